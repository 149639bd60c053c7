"""Cross-entity views: everything one actor did, and every event of one trace."""

from django.urls import reverse

from .search import results_page

__all__ = ["actor_view", "trace_view"]


def actor_view(request, actor_id):
    return results_page(
        request, title=f"Activity of {actor_id}", audit_kind="ActorActivityViewed",
        crumbs=[("Search events", reverse("admin:audit_search")), (f"Actor {actor_id}", None)],
        fixed={"actor_id": actor_id},
    )


def trace_view(request, trace_id):
    fixed = {"trace_id": trace_id}
    if "sort" not in request.GET:
        fixed["sort"] = "oldest"  # a trace reads as a story: first step first
    return results_page(
        request, title=f"Trace {trace_id}", audit_kind="TraceViewed",
        crumbs=[("Search events", reverse("admin:audit_search")), (f"Trace {trace_id}", None)],
        fixed=fixed,
    )
