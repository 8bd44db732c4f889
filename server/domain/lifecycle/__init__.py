"""The after-sales service lifecycle of the service plans, built on tickets, jobs, sync and the SLA engine.

One module per part: ``history`` (asset history and customer archive, the
tablet's asset record), ``plans`` (preventive inspection plans and their
scheduler tick), ``followup`` (follow-up calls, satisfaction, complaints with a
closed loop), ``certifications`` (who may be dispatched to which equipment),
``kb`` (knowledge base of solved cases, full-text search), ``kpis`` (service
quality figures) and ``controllers`` (the HTTP surface of all of them).
"""
