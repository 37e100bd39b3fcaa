"""Notifications: email people receive (guardians, staff), rendered from templates, queued in the sender's
transaction, sent by a worker over SMTP with retries, logged per person, with per-recipient preferences and an
unsubscribe link for what is not required."""
