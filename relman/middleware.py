"""A Content-Security-Policy on every response Django serves.

Relman's own pages load only same-origin scripts and styles and use no inline script,
style or event handler, so they get a strict policy. The Django admin and the API's
Swagger UI (drf-spectacular's) load their scripts as files too — the Swagger UI's start-up
script is served as a file of its own (``SpectacularSwaggerSplitView``) — but set inline
styles (the Swagger page's ``<style>`` block, and widgets that write ``style`` attributes),
so on those paths inline styles alone are allowed. Scripts are same-origin everywhere.
"""

_STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_INLINE_STYLES = _STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_INLINE_STYLE_PREFIXES = ("/admin/", "/api/v1/docs/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = _INLINE_STYLES if request.path.startswith(_INLINE_STYLE_PREFIXES) else _STRICT
        response.headers.setdefault("Content-Security-Policy", policy)
        return response
