from django.http import HttpRequest, JsonResponse

from authcheck.django import requires_auth


def public(request: HttpRequest) -> JsonResponse:
    caller = request.auth  # None: no token (an anonymous rule)
    return JsonResponse({"hello": caller.subject if caller else "anonymous"})


def orders(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return create_order(request)
    return JsonResponse({"orders": [], "user": request.auth.subject})


@requires_auth(scopes=["write:orders"])  # on top of the rules: this view needs write:orders
def create_order(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"created": True, "user": request.auth.subject}, status=201)
