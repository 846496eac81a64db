# Pages load only same-origin scripts and styles and use no inline script or event
# handler, so a strict policy holds everywhere except the admin's and API docs' own pages.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_RELAXED_PREFIXES = ("/admin/", "/api/v1/docs/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(_RELAXED_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", _POLICY)
        return response
