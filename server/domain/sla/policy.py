"""SLA policies: which clocks a ticket has, how long each may run, and what starts, pauses and stops it.

A ``Policy`` is an ordered list of named targets. The defaults have four
(``respond``, ``on_site``, ``resolve``, ``follow_up``); a policy file may name
any others (``register``, ``depart`` ...). Each target measures working time on its calendar; start and
stop are *events*, pause is a *state* entered by a pause event (``on_hold``)
and left by a resume event (``resumed``). ``reopen`` events bring a met clock
back to running with the time already used carried over; ``reset`` events
discard a run so that the next start event begins a fresh one; ``not_applicable``
events (``remote_resolved`` on ``on_site``) retire the clock for good, neither
met nor breached. ``cancelled``
is not configurable: it stops every clock (see ``state.py``).

Policies load from JSON (``load_policies``); the built-in defaults of DESIGN §3
go through the same loader (``default_policies``), so the file format can
always express them. Format::

    {
      "calendars": {                       # optional; "24x7" is built in
        "office": {
          "tz": "Europe/Berlin",
          "hours": {"mon": ["08:00-17:00"], "tue": ["08:00-12:00", "13:00-17:00"]},
          "region": "DE-BY",               # optional: public holidays and make-up working days
          "holidays": ["2025-12-24"],      # optional: local closures
          "working_days": ["2025-12-27"]   # optional: local extra working days
        }
      },
      "working_calendar": "office",        # optional: the days inspection visits may fall on, and the
                                           # calendar the KPIs' durations are measured in
      "kpi_targets": {                     # optional: the KPIs' targets (defaults: the service plans')
        "first_time_fix_rate": {"min": 0.95},
        "follow_up_on_time": {"min": 1.0, "within": "1wd"}
      },
      "category_names": {                  # optional: display names of categories per locale
        "fault": {"zh_CN": "故障维修", "en": "Repair"}
      },
      "policies": {                        # exactly P1, P2, P3 and complaint
        "P3": {
          "names": {"zh_CN": "一般故障", "en": "Normal"},   # optional: display names per locale
          "calendar": "office",
          "thresholds": [50, 75, 100],     # optional; must end with 100 (the breach)
          "targets": [                     # in the order they are reported
            {
              "name": "resolve",           # [a-z][a-z0-9_]*, unique within the policy
              "duration": "3wd",           # <int><unit>... units ms s m h d wd
              "start": ["opened"], "stop": ["completed"],
              "pause": ["on_hold"], "resume": ["resumed"],
              "reopen": ["reopened"], "reset": [],
              "not_applicable": [],        # e.g. ["remote_resolved"] on on_site
              "calendar": "24x7"           # optional; defaults to the policy's calendar
            }
          ]
        }
      }
    }

``targets`` may also be an object keyed by target name (the older form, same
fields without ``name``); its targets are then ordered ``respond``,
``on_site``, ``resolve``, ``follow_up`` first, the others as written.

Durations are working time on the target's calendar: ``h``/``m``/``s`` as
usual, ``d`` = 24 h of working time, ``wd`` = one working day of that calendar
(its longest weekday, e.g. 9 h for 08:00-17:00; 24 h on 24x7). Anything that
would leave a clock unable to start, stop or resume raises ``PolicyError``.

A calendar's ``region`` (``CN``, ``DE-BY`` ...) brings that region's public
holidays and make-up working days from the ``holidays`` package (``regions.py``);
its own ``holidays`` and ``working_days`` win over the region's.  The
``working_calendar`` (default: the P3 policy's calendar) is the one inspection
plans move a visit off non-working days with.

``kpi_targets`` overrides some or all of the service plans' KPI targets (:data:`KPI_TARGET_DEFAULTS`):
``min`` is the share (0-1) a KPI must reach; the two duration KPIs also take ``within``, a duration of
working time on the ``working_calendar`` (``1wd``: the plans' "follow-up within 24 h" as one working day;
``15wd``: "complaints closed within 15 days" as fifteen working days).

``names`` (per policy) and ``category_names`` are what people read for a
priority or category in the console, per locale (``zh_CN``, ``en``); the
message catalogs hold the defaults (重大故障 / 紧急故障 / 一般故障 / 投诉), so
only names a company wants different go here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from schemas.i18n import normalise
from server.domain.sla.calendar import (
    CALENDAR_24X7,
    WEEKDAYS,
    Calendar,
    business_day_ms,
    parse_hhmm,
)
from server.domain.sla.regions import UnknownRegion, region_days

__all__ = [
    "EVENT_KINDS",
    "KPI_TARGET_DEFAULTS",
    "KpiTarget",
    "PRIORITIES",
    "TARGET_NAMES",
    "Policy",
    "PolicyError",
    "PolicySet",
    "TargetSpec",
    "default_policies",
    "format_duration",
    "load_policies",
    "parse_duration",
    "policies_from_dict",
]

EVENT_KINDS = frozenset(
    {
        "opened",
        "acknowledged",
        "en_route",
        "on_site",
        "on_hold",
        "resumed",
        "completed",
        "follow_up_done",
        "cancelled",
        "reopened",
        # a job was dispatched to an engineer: the end of registration (受理与派单)
        "job_assigned",
        # a remote job completed without anyone on site: the visit clocks no longer apply
        "remote_resolved",
    }
)
#: the targets of the default policies, in their reporting order
TARGET_NAMES = ("respond", "on_site", "resolve", "follow_up")
_TARGET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
PRIORITIES = ("P1", "P2", "P3", "complaint")
DEFAULT_THRESHOLDS = (50, 75, 100)

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^(?:\d+(?:wd|ms|s|m|h|d))+$")
_DURATION_PART = re.compile(r"(\d+)(wd|ms|s|m|h|d)")
_TARGET_KEYS = {"name", "duration", "start", "stop", "pause", "resume", "reopen", "reset", "not_applicable",
                "calendar"}
_CALENDAR_KEYS = {"tz", "hours", "holidays", "working_days", "region"}


class PolicyError(ValueError):
    """A policy configuration that could never work (a clock that can never start, stop or resume)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TargetSpec:
    """One SLA clock: ``duration_ms`` of working time on ``calendar`` between a start and a stop event."""

    name: str
    duration_ms: int
    calendar: Calendar
    start_on: frozenset[str]
    stop_on: frozenset[str]
    pause_on: frozenset[str] = frozenset()
    resume_on: frozenset[str] = frozenset()
    reopen_on: frozenset[str] = frozenset()
    reset_on: frozenset[str] = frozenset()
    #: events after which the clock no longer applies (``remote_resolved`` for on-site): state ``not_applicable``
    void_on: frozenset[str] = frozenset()
    #: the duration as configured (``3wd``), for people; ``duration_ms`` is what counts
    duration_text: str = ""

    @cached_property
    def relevant_kinds(self) -> frozenset[str]:
        """Every event kind that can change this clock (``cancelled`` always can)."""
        return (
            self.start_on
            | self.stop_on
            | self.pause_on
            | self.resume_on
            | self.reopen_on
            | self.reset_on
            | self.void_on
            | {"cancelled"}
        )


@dataclass(frozen=True)
class Policy:
    """The clocks of one priority; ``thresholds`` are the percentages reported as warnings/breach."""

    name: str
    calendar: Calendar
    targets: tuple[TargetSpec, ...]
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    #: display names per locale from the policy file (``{"zh_CN": "一般故障"}``); empty: the catalog's
    names: Mapping[str, str] = field(default_factory=dict)

    def target(self, name: str) -> TargetSpec:
        for spec in self.targets:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class KpiTarget:
    """A KPI's target: at least ``min`` (a share, 0-1); duration KPIs count a case on time within ``within_ms``
    of working time on the working calendar."""

    name: str
    min: float
    within_ms: int | None = None
    #: ``within`` as configured (``1wd``), for people
    within_text: str = ""
    #: where it comes from: ``default`` (the service plans) or ``policy`` (the policy file named the KPI)
    source: str = "default"


#: KPI name -> (min, within) of the service plans; ``within`` only for the duration KPIs
KPI_TARGET_DEFAULTS: dict[str, tuple[float, str | None]] = {
    "first_time_fix_rate": (0.95, None),
    "remote_share": (0.80, None),
    "follow_up_on_time": (1.0, "1wd"),
    "complaint_closed_on_time": (1.0, "15wd"),
}


def kpi_targets(raw: object, calendar: Calendar) -> dict[str, KpiTarget]:
    """The KPI targets: the defaults, overridden by a policy file's ``kpi_targets`` (``raw``; None: none)."""
    given = _mapping(raw if raw is not None else {}, "kpi_targets")
    _no_unknown_keys(given, set(KPI_TARGET_DEFAULTS), "kpi_targets")
    out = {}
    for name, (low, within) in KPI_TARGET_DEFAULTS.items():
        body = _mapping(given.get(name, {}), f"kpi_targets.{name}")
        _no_unknown_keys(body, {"min", "within"} if within is not None else {"min"}, f"kpi_targets.{name}")
        value = body.get("min", low)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise PolicyError(f"kpi_targets.{name}.min: a share between 0 and 1 (0.95 for 95 %)")
        text = body.get("within", within)
        if text is not None and not isinstance(text, str):
            raise PolicyError(f"kpi_targets.{name}.within: a duration such as 1wd, 24h")
        out[name] = KpiTarget(name, float(value), parse_duration(text, calendar) if text else None, text or "",
                              "policy" if name in given else "default")
    return out


@dataclass(frozen=True)
class PolicySet:
    """Policies by priority (``P1``, ``P2``, ``P3``, ``complaint``) and the organisation's working calendar."""

    policies: Mapping[str, Policy] = field(default_factory=dict)
    working_calendar: Calendar = CALENDAR_24X7
    #: display names of ticket categories per locale from the policy file; empty: the catalog's
    category_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: the KPIs' targets by KPI name (durations on ``working_calendar``)
    kpi_targets: Mapping[str, KpiTarget] = field(default_factory=lambda: kpi_targets(None, CALENDAR_24X7))

    def display_names(self) -> dict[str, Mapping[str, str]]:
        """Names the policy file gives, keyed like the catalog (``priority.P1``, ``category.fault``)."""
        out: dict[str, Mapping[str, str]] = {f"priority.{k}": p.names for k, p in self.policies.items() if p.names}
        out.update({f"category.{k}": v for k, v in self.category_names.items()})
        return out

    def for_ticket(self, priority: str, category: str | None = None) -> Policy:
        """The policy for a ticket: complaints use ``complaint`` whatever their priority."""
        key = "complaint" if category == "complaint" else priority
        try:
            return self.policies[key]
        except KeyError:
            raise PolicyError(f"no SLA policy for priority {key!r}") from None


def parse_duration(text: str, calendar: Calendar = CALENDAR_24X7) -> int:
    """Parse ``"2h"``, ``"1h30m"``, ``"15d"``, ``"3wd"`` into ms of working time on ``calendar``."""
    compact = text.replace(" ", "")
    if not _DURATION.match(compact):
        raise PolicyError(f"bad duration {text!r}: expected e.g. 30m, 2h, 15d, 3wd")
    total = 0
    for number, unit in _DURATION_PART.findall(compact):
        per_unit = business_day_ms(calendar) if unit == "wd" else _UNIT_MS[unit]
        total += int(number) * per_unit
    if total <= 0:
        raise PolicyError(f"duration {text!r} must be positive")
    return total


def format_duration(ms: int) -> str:
    """``ms`` as the shortest duration text ``parse_duration`` reads back on 24x7 (``1d2h``, ``90s``, ``5ms``)."""
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    if ms or not parts:
        parts.append(f"{ms}ms")
    return "".join(parts)


def load_policies(text: str) -> PolicySet:
    """Parse and validate a JSON policy file (format in the module docstring)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy file is not valid JSON: {exc}") from exc
    return policies_from_dict(data)


def policies_from_dict(data: object) -> PolicySet:
    """Validate already-decoded policy configuration (the JSON document as Python objects)."""
    root = _mapping(data, "policy file")
    _no_unknown_keys(root, {"calendars", "policies", "working_calendar", "category_names", "kpi_targets"},
                     "policy file")
    calendars = {"24x7": CALENDAR_24X7}
    for name, raw in _mapping(root.get("calendars", {}), "calendars").items():
        if name in calendars:
            raise PolicyError(f"calendars.{name}: the name is built in")
        calendars[name] = _calendar(name, raw)
    raw_policies = _mapping(root.get("policies"), "policies")
    missing = [p for p in PRIORITIES if p not in raw_policies]
    unknown = [p for p in raw_policies if p not in PRIORITIES]
    if missing or unknown:
        raise PolicyError(f"policies: need exactly {', '.join(PRIORITIES)} (missing {missing}, unknown {unknown})")
    policies = {name: _policy(name, raw_policies[name], calendars) for name in PRIORITIES}
    working = policies["P3"].calendar
    if "working_calendar" in root:
        working = _calendar_ref(root["working_calendar"], calendars, "working_calendar")
    category_names = {
        str(k): _names(v, f"category_names.{k}") for k, v in _mapping(root.get("category_names", {}),
                                                                     "category_names").items()}
    return PolicySet(policies, working_calendar=working, category_names=category_names,
                     kpi_targets=kpi_targets(root.get("kpi_targets"), working))


def default_policies(tz: str = "UTC", holidays: Iterable[date | str] = (), region: str | None = None) -> PolicySet:
    """The default table of DESIGN §3; P3 runs Mon-Fri 08:00-17:00 in ``tz`` on ``region``'s working days."""
    pausing = {"pause": ["on_hold"], "resume": ["resumed"]}

    def targets(respond: str, on_site: str | None, resolve: str) -> dict[str, object]:
        out: dict[str, object] = {
            # Any field event after opening proves someone responded.
            "respond": {
                "duration": respond,
                "start": ["opened"],
                "stop": ["acknowledged", "en_route", "on_site", "completed"],
            }
        }
        if on_site is not None:
            # A job fixed remotely never needs a visit, so completion also stops the on-site clock,
            # and a remote resolution makes it not applicable at all (not met, not breached).
            out["on_site"] = {
                "duration": on_site,
                "start": ["opened"],
                "stop": ["on_site", "completed"],
                "not_applicable": ["remote_resolved"],
                **pausing,
            }
        out["resolve"] = {
            "duration": resolve,
            "start": ["opened"],
            "stop": ["completed"],
            "reopen": ["reopened"],
            **pausing,
        }
        # The follow-up call is due within 24 h of the *last* resolution: a reopen discards the running one.
        out["follow_up"] = {
            "duration": "24h",
            "calendar": "24x7",
            "start": ["completed"],
            "stop": ["follow_up_done"],
            "reset": ["reopened"],
        }
        return out

    config = {
        "calendars": {
            "business": {
                "tz": tz,
                "hours": {day: ["08:00-17:00"] for day in WEEKDAYS[:5]},
                "holidays": [h if isinstance(h, str) else h.isoformat() for h in holidays],
                **({"region": region} if region else {}),
            }
        },
        "policies": {
            "P1": {"calendar": "24x7", "targets": targets("1h", "2h", "24h")},
            "P2": {"calendar": "24x7", "targets": targets("1h", "4h", "48h")},
            "P3": {"calendar": "business", "targets": targets("2h", "8h", "3wd")},
            "complaint": {"calendar": "24x7", "targets": targets("2h", None, "15d")},
        },
    }
    return policies_from_dict(config)


def _policy(name: str, raw: object, calendars: Mapping[str, Calendar]) -> Policy:
    where = f"policies.{name}"
    body = _mapping(raw, where)
    _no_unknown_keys(body, {"calendar", "targets", "thresholds", "names"}, where)
    calendar = _calendar_ref(body.get("calendar", "24x7"), calendars, f"{where}.calendar")
    thresholds = body.get("thresholds", list(DEFAULT_THRESHOLDS))
    if (
        not isinstance(thresholds, list)
        or not thresholds
        or not all(isinstance(t, int) and not isinstance(t, bool) and 0 < t <= 100 for t in thresholds)
        or thresholds != sorted(set(thresholds))
        or thresholds[-1] != 100
    ):
        raise PolicyError(f"{where}.thresholds: ascending percentages in 1..100 ending with 100")
    targets = [_target(target_name, raw, calendar, calendars, where)
               for target_name, raw in _named_targets(body.get("targets"), f"{where}.targets")]
    return Policy(name=name, calendar=calendar, targets=tuple(targets), thresholds=tuple(thresholds),
                  names=_names(body.get("names", {}), f"{where}.names"))


def _names(raw: object, where: str) -> dict[str, str]:
    """Display names per locale: ``{"zh_CN": "一般故障", "en": "Normal"}`` (``zh-CN`` is read as ``zh_CN``)."""
    out = {}
    for tag, name in _mapping(raw, where).items():
        locale = normalise(str(tag))
        if locale is None:
            raise PolicyError(f"{where}: unknown locale {tag!r}; known: zh_CN, en")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise PolicyError(f"{where}.{tag}: a name of 1 to 100 characters")
        out[locale] = name.strip()
    return out


def _named_targets(raw: object, where: str) -> list[tuple[str, object]]:
    """``(name, body)`` of each target, in reporting order, from the list form or the keyed form."""
    named: list[tuple[str, object]] = []
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            body = _mapping(item, f"{where}[{i}]")
            name = body.get("name")
            if not isinstance(name, str) or not _TARGET_NAME.match(name):
                raise PolicyError(f"{where}[{i}].name: a name such as 'register' ([a-z][a-z0-9_]*, up to 32)")
            named.append((name, {k: v for k, v in body.items() if k != "name"}))
    elif isinstance(raw, dict):
        bad = [n for n in raw if not isinstance(n, str) or not _TARGET_NAME.match(n)]
        if bad:
            raise PolicyError(f"{where}: bad target name(s) {bad}; a name such as 'register' ([a-z][a-z0-9_]*)")
        # a fixed order keeps results and threshold events stable: the default names first
        order = {n: i for i, n in enumerate(TARGET_NAMES)}
        named = sorted(((str(n), body) for n, body in raw.items()), key=lambda kv: order.get(kv[0], len(order)))
    else:
        raise PolicyError(f"{where}: a list of targets, each with a name")
    if not named:
        raise PolicyError(f"{where}: a policy needs at least one target")
    names = [n for n, _ in named]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PolicyError(f"{where}: target(s) {twice} named more than once")
    return named


def _target(
    name: str, raw: object, default_calendar: Calendar, calendars: Mapping[str, Calendar], policy_where: str
) -> TargetSpec:
    where = f"{policy_where}.targets.{name}"
    body = _mapping(raw, where)
    _no_unknown_keys(body, _TARGET_KEYS - {"name"}, where)
    calendar = default_calendar
    if "calendar" in body:
        calendar = _calendar_ref(body["calendar"], calendars, f"{where}.calendar")
    duration = body.get("duration")
    if not isinstance(duration, str):
        raise PolicyError(f"{where}.duration: a string such as '2h' or '3wd' is required")
    try:
        duration_ms = parse_duration(duration, calendar)
    except PolicyError as exc:
        raise PolicyError(f"{where}.duration: {exc.message}") from None
    kinds = {key: _kinds(body.get(key, []), f"{where}.{key}")
             for key in _TARGET_KEYS - {"name", "duration", "calendar"}}
    if not kinds["start"]:
        raise PolicyError(f"{where}: no start event, the clock could never start")
    if not kinds["stop"]:
        raise PolicyError(f"{where}: no stop event, the clock could never stop")
    if kinds["start"] & kinds["stop"]:
        raise PolicyError(f"{where}: {sorted(kinds['start'] & kinds['stop'])} both starts and stops the clock")
    if kinds["pause"] and not kinds["resume"]:
        raise PolicyError(f"{where}: pause without a resume event, a paused clock could never resume")
    if kinds["resume"] and not kinds["pause"]:
        raise PolicyError(f"{where}: resume without a pause event")
    if kinds["not_applicable"] & (kinds["start"] | kinds["stop"]):
        raise PolicyError(f"{where}: {sorted(kinds['not_applicable'] & (kinds['start'] | kinds['stop']))} "
                          "both starts or stops the clock and makes it not applicable")
    if kinds["pause"] & kinds["resume"]:
        raise PolicyError(f"{where}: {sorted(kinds['pause'] & kinds['resume'])} both pauses and resumes")
    return TargetSpec(
        name=name,
        duration_ms=duration_ms,
        calendar=calendar,
        start_on=kinds["start"],
        stop_on=kinds["stop"],
        pause_on=kinds["pause"],
        resume_on=kinds["resume"],
        reopen_on=kinds["reopen"],
        reset_on=kinds["reset"],
        void_on=kinds["not_applicable"],
        duration_text=duration.replace(" ", ""),
    )


def _calendar(name: str, raw: object) -> Calendar:
    where = f"calendars.{name}"
    body = _mapping(raw, where)
    _no_unknown_keys(body, _CALENDAR_KEYS, where)
    tz = body.get("tz")
    if not isinstance(tz, str):
        raise PolicyError(f"{where}.tz: an IANA time zone name is required")
    hours = _mapping(body.get("hours"), f"{where}.hours")
    _no_unknown_keys(hours, set(WEEKDAYS), f"{where}.hours")
    week = []
    for day in WEEKDAYS:
        spans = hours.get(day, [])
        if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
            raise PolicyError(f"{where}.hours.{day}: a list like ['08:00-17:00']")
        intervals = []
        for span in spans:
            try:
                opens, closes = span.split("-")
                intervals.append((parse_hhmm(opens.strip()), parse_hhmm(closes.strip())))
            except ValueError:
                raise PolicyError(f"{where}.hours.{day}: bad interval {span!r}, expected HH:MM-HH:MM") from None
        week.append(tuple(sorted(intervals)))
    region = None
    if "region" in body:
        if not isinstance(body["region"], str):
            raise PolicyError(f"{where}.region: a region code such as 'CN' or 'DE-BY'")
        try:
            region = region_days(body["region"])
        except UnknownRegion as exc:
            raise PolicyError(f"{where}.region: {exc}") from None
    try:
        return Calendar(name=name, tz=tz, week=tuple(week), holidays=_dates(body, "holidays", where),
                        working_days=_dates(body, "working_days", where), region=region)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _dates(body: Mapping[str, object], key: str, where: str) -> frozenset[date]:
    raw = body.get(key, [])
    if not isinstance(raw, list):
        raise PolicyError(f"{where}.{key}: a list of YYYY-MM-DD dates")
    days = set()
    for item in raw:
        try:
            days.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise PolicyError(f"{where}.{key}: bad date {item!r}, expected YYYY-MM-DD") from None
    return frozenset(days)


def _calendar_ref(raw: object, calendars: Mapping[str, Calendar], where: str) -> Calendar:
    if not isinstance(raw, str) or raw not in calendars:
        raise PolicyError(f"{where}: unknown calendar {raw!r}; known: {', '.join(sorted(calendars))}")
    return calendars[raw]


def _kinds(raw: object, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise PolicyError(f"{where}: a list of event kinds")
    unknown = sorted(set(raw) - EVENT_KINDS)
    if unknown:
        raise PolicyError(f"{where}: unknown event kind(s) {unknown}; known: {', '.join(sorted(EVENT_KINDS))}")
    if "cancelled" in raw:
        raise PolicyError(f"{where}: 'cancelled' always stops every clock and cannot be configured")
    return frozenset(raw)


def _mapping(raw: object, where: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected an object")
    return raw


def _no_unknown_keys(body: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {unknown}")
