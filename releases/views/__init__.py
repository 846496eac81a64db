"""Pages for releases, deployments and interventions (SPEC §4.1), a module per subject:

- ``dashboard``: the home page (reads only; the remembered filters are restored here);
- ``preferences``: the POST that remembers or forgets the dashboard's filters;
- ``releases``: a release's page and its deploy page;
- ``deployments``: a deployment's page, its live parts and cancelling it;
- ``interruptions``: My tasks and the answers to an intervention;
- ``common``: what those share (the htmx page-or-fragment answer, the confirm page, the
  intervention panel). The dashboard's cells are written by ``releases.rendering``;
- ``live``: how a poll whose region has not changed is answered 204, without rendering.

Views are thin: they find what the user may see (``visible_to``; anything else is a 404),
call a service for every change and show a refusal's message. A GET changes nothing. An
htmx request gets the fragment it asked for (live regions poll every two seconds); any
other request gets the full page, or a redirect after a POST.

Live parts poll rather than stream (server-sent events): a poll is one short ordinary
request that any proxy, gunicorn sync worker and session check handle as they are, with
nothing to reconnect after a deploy or a dropped connection; an event stream would hold a
web worker per open page. Two seconds is the freshness the pages promise, and the polled
fragments are cheap: a poll whose region has not changed is answered 204 with nothing
rendered (``live``), and the log sends only what comes ``?after`` its last line.
"""
