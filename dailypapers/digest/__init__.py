"""E-mail digests: subscriptions (double opt-in, one-click unsubscribe), composing each edition into an
outbox in the database, and delivering the outbox over SMTP exactly once per (subscriber, edition)."""
