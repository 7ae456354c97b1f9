# Where jobs run: this machine (R/job-local.R) or SageMaker (R/job-cloud.R).
# Each backend is a list: `label`; `start(plan, session)`, a new job's
# handle; `attach(name, session)`, a handle, or NULL when it has no such job;
# `list(n, name_contains, status, details, session)`, a list_jobs() frame;
# `where(session)`, where it looked, for messages. A backend that cannot be
# asked raises `sagesim_backend_unavailable` (see R/conditions.R).
# job_attach() and list_jobs() ask each in turn: local jobs first, as they
# need no account.

job_backends <- function() list(local = local_backend(), cloud = cloud_backend())

backend_of_plan <- function(plan) job_backends()[[if (plan$local) "local" else "cloud"]]
