# The backends there are (their contract: R/backend.R). job_attach() and
# list_jobs() ask each in turn: local jobs first, as they need no account.

job_backends <- function() list(local = local_backend(), cloud = cloud_backend())

backend_of_plan <- function(plan) job_backends()[[if (plan$local) "local" else "cloud"]]
