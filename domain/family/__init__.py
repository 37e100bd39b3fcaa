"""The guardian's view of the school: their own children's published grades, report cards, transcript and
attendance, and their family's account; what a guardian may change (their contact details, their email
preferences); and the office inviting a guardian and the emailed one-time sign-in of the parent pages."""
