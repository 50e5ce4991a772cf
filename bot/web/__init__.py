"""The admin dashboard: server-rendered pages for coordinators, leaders and reps."""
