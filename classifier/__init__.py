"""Triage into a_to_z, chargeback, at_risk and routine (grows with the classifier issue)."""
