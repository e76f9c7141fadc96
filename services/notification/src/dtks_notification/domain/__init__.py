"""The pure core of the notification service: who is told what, when to retry, how to sign. No I/O."""
