"""Cases, case folders, attachments, extraction and the index (grows with the evidence store issue)."""
