"""Our rows → the Hugging Face papers JSON, field for field (the raw responses in the shared archive are
the reference), so that ``huggingface_hub`` and other clients work unchanged. A stored link that
:func:`~dailypapers.urls.safe_http_url` refuses is written as unknown (``null``, or left out where the
field is optional), never as it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dailypapers.names import hf_handle
from dailypapers.store.models import DailyEntry, LinkedRepo, Organization, Paper
from dailypapers.store.queries import BuiltOn
from dailypapers.urls import safe_http_url


def iso(value: datetime | None) -> str | None:
    """``2026-06-30T00:00:00.000Z``, the way the Hugging Face API writes times."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def organization_json(org: Organization | None) -> dict[str, Any] | None:
    """An organization as the Hugging Face API shows it (None for none)."""
    if org is None:
        return None
    return {
        "_id": f"org{org.id}",
        "name": org.name,
        "fullname": org.fullname or org.name,
        "avatar": safe_http_url(org.avatar_url),
    }


def submitter_json(entry: DailyEntry) -> dict[str, Any] | None:
    """Who submitted a daily entry, as the Hugging Face API shows it (None when unknown)."""
    if not entry.submitter_name:
        return None
    return {
        "_id": f"user-{entry.submitter_name}",
        "avatarUrl": safe_http_url(entry.submitter_avatar_url),
        "fullname": entry.submitter_fullname or entry.submitter_name,
        "name": entry.submitter_name,
        "user": entry.submitter_name,
        "type": "user",
        "isPro": False,
    }


def _media_urls(entry: DailyEntry) -> list[str]:
    return [url for url in (safe_http_url(m) for m in entry.media_urls or []) if url]


def _author_json(paper: Paper, i: int, name: str) -> dict[str, Any]:
    """One author as Hugging Face gives it: with ``user`` when an account claimed the name."""
    data: dict[str, Any] = {"_id": f"{paper.id}-{i}", "name": name, "hidden": False}
    users = paper.author_users if isinstance(paper.author_users, dict) else {}
    handle = hf_handle(users.get(name))
    if handle:
        data["user"] = {"user": handle, "fullname": name, "type": "user"}
    return data


def paper_json(paper: Paper, entry: DailyEntry | None = None) -> dict[str, Any]:
    """The ``paper`` object (also the whole answer of ``GET /api/papers/{id}``)."""
    data: dict[str, Any] = {
        "id": paper.arxiv_id,
        "authors": [_author_json(paper, i, name) for i, name in enumerate(paper.authors or [])],
        "publishedAt": iso(paper.published_at),
        "title": paper.title,
        "summary": paper.abstract or "",
        "upvotes": paper.total_upvotes,
    }
    if entry is not None:
        data["mediaUrls"] = _media_urls(entry)
        if entry.submitted_at is not None:
            data["submittedOnDailyAt"] = iso(entry.submitted_at)
        submitter = submitter_json(entry)
        if submitter:
            data["submittedOnDailyBy"] = submitter
    optional = {
        "projectPage": safe_http_url(paper.project_page),
        "githubRepo": safe_http_url(paper.code_url),
        "githubStars": paper.github_stars,
        "ai_summary": paper.ai_summary,
        "ai_keywords": paper.ai_keywords or None,
        "organization": organization_json(paper.organization),
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    return data


def linked_repo_json(repo: LinkedRepo) -> dict[str, Any]:
    """One model, dataset or Space built on a paper, with the fields Hugging Face gives it in
    ``linkedModels`` / ``linkedDatasets`` / ``linkedSpaces`` (and ``/api/arxiv/{id}/repos``)."""
    data: dict[str, Any] = {
        "author": repo.repo_id.split("/", 1)[0],
        "id": repo.repo_id,
        "lastModified": iso(repo.last_modified),
        "likes": repo.likes or 0,
        "private": False,
        "repoType": repo.kind,
    }
    if repo.kind == "space":
        data.update({"emoji": repo.emoji, "title": repo.title, "shortDescription": repo.title})
    else:
        data.update({"downloads": repo.downloads or 0, "gated": repo.gated or False})
    if repo.kind == "model":
        data["pipeline_tag"] = repo.pipeline_tag
        if repo.num_parameters is not None:
            data["numParameters"] = repo.num_parameters
    return {k: v for k, v in data.items() if v is not None}


def built_on_json(built: BuiltOn) -> dict[str, Any]:
    """The linked-repository fields of ``GET /api/papers/{id}``, named as Hugging Face names them."""
    return {
        "linkedModels": [linked_repo_json(r) for r in built.models],
        "numTotalModels": built.totals["model"],
        "linkedDatasets": [linked_repo_json(r) for r in built.datasets],
        "numTotalDatasets": built.totals["dataset"],
        "linkedSpaces": [linked_repo_json(r) for r in built.spaces],
        "numTotalSpaces": built.totals["space"],
    }


def repos_json(built: BuiltOn) -> dict[str, Any]:
    """The answer of ``GET /api/arxiv/{id}/repos``: every stored repository of each kind."""
    return {
        "models": [linked_repo_json(r) for r in built.models],
        "datasets": [linked_repo_json(r) for r in built.datasets],
        "spaces": [linked_repo_json(r) for r in built.spaces],
    }


def entry_json(entry: DailyEntry, paper: Paper | None = None) -> dict[str, Any]:
    """One item of ``GET /api/daily_papers``: the paper plus the listing's own fields."""
    paper = paper or entry.paper
    data: dict[str, Any] = {
        "paper": paper_json(paper, entry),
        "publishedAt": iso(entry.submitted_at or paper.published_at),
        "title": paper.title,
        "summary": paper.abstract or "",
        "numComments": entry.num_comments,
        "mediaUrls": _media_urls(entry),
        "isAuthorParticipating": False,
    }
    thumbnail = safe_http_url(entry.thumbnail)
    if thumbnail:
        data["thumbnail"] = thumbnail
    submitter = submitter_json(entry)
    if submitter:
        data["submittedBy"] = submitter
    org = organization_json(paper.organization)
    if org:
        data["organization"] = org
    return data


def search_item_json(paper: Paper, entry: DailyEntry | None) -> dict[str, Any]:
    """One search result: entry-shaped when the paper was listed, else the bare paper under ``paper``."""
    if entry is not None:
        return entry_json(entry, paper)
    return {
        "paper": paper_json(paper),
        "publishedAt": iso(paper.published_at),
        "title": paper.title,
        "summary": paper.abstract or "",
        "numComments": 0,
    }


def user_json(user: Any, *, me: bool = False) -> dict[str, Any]:
    """A user as others see it; ``me=True`` adds what only the account itself sees."""
    data: dict[str, Any] = {
        "name": user.username,
        "fullname": user.display_name,
        "role": user.role,
        "createdAt": iso(user.created_at),
    }
    if me:  # the confirmed address (None until a mailed link was followed) and one waiting for its link
        data["email"] = user.email
        data["emailVerified"] = user.email is not None
        data["pendingEmail"] = user.pending_email
        data["hideMarked"] = bool(getattr(user, "hide_marked", False))
    return data


def comment_json(comment: Any) -> dict[str, Any]:
    """A comment as this site's JSON API shows it."""
    return {
        "id": comment.id,
        "paper": comment.paper.arxiv_id,
        "author": user_json(comment.user),
        "body": comment.body,
        "hidden": comment.hidden,
        "createdAt": iso(comment.created_at),
        "editedAt": iso(comment.edited_at),
    }


def collection_json(collection: Any, *, size: int | None = None, owner: Any = None) -> dict[str, Any]:
    """A collection as this site's JSON API shows it (``size``: its paper count; ``owner``: its owner)."""
    data: dict[str, Any] = {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "public": collection.public,
        "createdAt": iso(collection.created_at),
        "updatedAt": iso(collection.updated_at),
    }
    if size is not None:
        data["numPapers"] = size
    if owner is not None:
        data["owner"] = user_json(owner)
    return data
