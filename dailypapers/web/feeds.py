"""Atom feeds for every listing (daily, weekly, monthly, trending, organization, search)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/feeds", tags=["feeds"])
