"""Signals other apps listen to, so the cases app needs to know nothing about them."""

from django.dispatch import Signal

#: A message for the reporter was added to a case's thread by the team or by Mamori
#: (arguments: ``case``, ``message``). The intake mails it to reporters who wrote by e-mail.
message_for_reporter = Signal()

#: A coordinated-disclosure flag became true on a case (arguments: ``case``, ``flag``, ``actor``).
#: The assessment recomputes the case's priority: attacks observed raise it.
flag_raised = Signal()

#: A case moved through a workflow step (arguments: ``case``, ``step``, ``actor``), sent inside
#: the transaction that moved it. The release trains assign a case handed to its product team.
state_changed = Signal()
