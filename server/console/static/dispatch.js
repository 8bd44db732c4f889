/* fieldsync console, schedule board: drag a job block to another time or another engineer's lane.
   A drop fills the board's move form (engineer, day, start time, duration) and submits it: the same
   POST /dispatch/move the per-job forms below the board send without JavaScript. No library. */
(function () {
  "use strict";
  var sched = document.getElementById("schedule");
  var form = document.getElementById("move-form");
  if (!sched || !form) { return; }
  var firstHour = Number(sched.getAttribute("data-first-hour"));
  var slotMinutes = Number(sched.getAttribute("data-slot-minutes"));
  var slots = Number(sched.getAttribute("data-slots"));
  var day = sched.getAttribute("data-day");
  var dragged = null;
  var grabOffset = 0; // slots between the block's start and where it was grabbed

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function slotAt(lane, clientX) {
    var box = lane.getBoundingClientRect();
    var slot = Math.floor((clientX - box.left) / (box.width / slots));
    return Math.max(0, Math.min(slots - 1, slot));
  }

  sched.addEventListener("dragstart", function (ev) {
    var block = ev.target.closest ? ev.target.closest(".block[draggable=true]") : null;
    if (!block) { return; }
    dragged = block;
    var lane = block.parentElement;
    var startSlot = 0;
    var m = /slot-s(\d+)/.exec(block.className);
    if (m) { startSlot = Number(m[1]); }
    grabOffset = Math.max(0, slotAt(lane, ev.clientX) - startSlot);
    block.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", block.getAttribute("data-job"));
  });
  sched.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    var over = sched.querySelectorAll(".lane.over");
    for (var i = 0; i < over.length; i++) { over[i].classList.remove("over"); }
  });
  sched.addEventListener("dragover", function (ev) {
    var lane = ev.target.closest ? ev.target.closest(".lane.drop") : null;
    if (!lane || !dragged) { return; }
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "move";
    var over = sched.querySelectorAll(".lane.over");
    for (var i = 0; i < over.length; i++) { if (over[i] !== lane) { over[i].classList.remove("over"); } }
    lane.classList.add("over");
  });
  sched.addEventListener("drop", function (ev) {
    var lane = ev.target.closest ? ev.target.closest(".lane.drop") : null;
    if (!lane || !dragged) { return; }
    ev.preventDefault();
    var slot = Math.max(0, slotAt(lane, ev.clientX) - grabOffset);
    var minutes = firstHour * 60 + slot * slotMinutes;
    var wanted = Number(dragged.getAttribute("data-minutes")) || 60;
    var allowed = [30, 60, 90, 120, 180, 240, 360, 480];
    var duration = allowed[allowed.length - 1];
    for (var i = 0; i < allowed.length; i++) { if (allowed[i] >= wanted) { duration = allowed[i]; break; } }
    form.elements.job_id.value = dragged.getAttribute("data-job");
    form.elements.engineer_id.value = lane.getAttribute("data-engineer");
    form.elements.date.value = day;
    form.elements.time.value = pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
    form.elements.duration.value = String(duration);
    form.submit();
  });
})();
