"""`smscli listen` (issue 11): a webhook receiver for the providers' delivery receipts and
device replies. ``events`` reads and authenticates what they push; ``server`` serves it,
records it in the history, prints it and runs ``--exec``."""
