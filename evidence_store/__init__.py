"""Cases, case folders, attachments, extraction, the index (grows with the evidence store issue)."""
