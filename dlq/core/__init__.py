"""The queue's own logic: settings, tasks, the registry and the one path that runs a job.

Nothing here imports Django, Redis or a metrics library; what it needs of them is passed in.
"""
