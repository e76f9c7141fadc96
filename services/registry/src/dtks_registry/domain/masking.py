"""Names as the citizens' check shows them: enough to recognise oneself, too little to harvest.
Defined once in dtks_contracts.masking (the notification service masks agencies' copies the same way)."""

from __future__ import annotations

from dtks_contracts.masking import mask_name, mask_nik, masked_resident, normalize_name

__all__ = ["mask_name", "mask_nik", "masked_resident", "normalize_name"]
