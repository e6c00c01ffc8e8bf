"""Case files and interventions: why an organisation is of concern, the support chosen, milestones, exit criteria,
notes, interventions on the record as events, whether they worked (against a comparison group), and whether the
improvement lasts after withdrawal (docs/interventions.md)."""
