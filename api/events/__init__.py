"""/api/v1/workspaces/{wid}/events: live status changes as Server-Sent Events.

Served by the API process in the embedded mode (:mod:`.routes`) and by the
``clientnest events`` server in production (:mod:`.server`): the same path,
the same credentials, the same messages (:mod:`.stream`).
"""
