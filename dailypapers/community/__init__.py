"""Accounts and what people do on the site: votes, submissions, comments, collections, marks.

One service function per action; the JSON API, the HTML pages and the CLI all call these, so the rules
(who may do what, caps, limits) live in one place. Each function opens its own transaction on the
:class:`~dailypapers.store.db.Database` it is given and returns plain, detached rows.
"""
