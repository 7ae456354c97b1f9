# IAM policy statements from the kinds of resource and the conditions of
# R/aws-actions.R: the ARNs each kind names, in a place (`where`) that is
# either what a policy covers (wildcards) or what one refused call touched.

# The partition of a region's ARNs.
aws_partition <- function(region) {
  if (startsWith(region, "cn-")) "aws-cn" else if (startsWith(region, "us-gov-")) "aws-us-gov" else "aws"
}

# `where`: partition, region, account, and as far as the kind needs them
# buckets, objects (keys or key patterns), jobs (names or patterns), roles,
# streams, repository, image_repositories, kms_keys.
policy_resources <- function(kind, where) {
  arn <- function(service, resource) {
    sprintf("arn:%s:%s:%s:%s:%s", where$partition, service, where$region, where$account, resource)
  }
  groups <- arn("logs", paste0("log-group:", job_log_groups))
  switch(kind,
    any = "*",
    bucket = sprintf("arn:%s:s3:::%s", where$partition, where$buckets),
    objects = as.vector(outer(where$buckets, where$objects, function(b, o) {
      sprintf("arn:%s:s3:::%s/%s", where$partition, b, o)
    })),
    # (SageMaker's ARNs hold job names in lower case.)
    jobs = arn("sagemaker", paste0("processing-job/", tolower(where$jobs))),
    training_jobs = arn("sagemaker", paste0("training-job/", tolower(where$jobs))),
    role = where$roles,
    # (Log group ARNs are written with and without a trailing ":*".)
    log_group = c(groups, paste0(groups, ":*")),
    log_streams = as.vector(outer(groups, where$streams, function(g, s) paste0(g, ":log-stream:", s))),
    repository = arn("ecr", paste0("repository/", where$repository)),
    image_repository = where$image_repositories,
    kms_key = where$kms_keys
  )
}

policy_condition <- function(condition, where) {
  switch(condition,
    # The role can be handed to SageMaker and to nothing else.
    passed_to_sagemaker = list(StringEquals = list(`iam:PassedToService` = "sagemaker.amazonaws.com")),
    # Grants for the job's encrypted volumes, made by SageMaker.
    grant_for_aws_resource = list(Bool = list(`kms:GrantIsForAWSResource` = "true")),
    # Listing only under the prefix (a HeadBucket names no prefix).
    prefix = list(StringLikeIfExists = list(`s3:prefix` = paste0(where$prefix, "*"))),
    NULL
  )
}

# One Allow statement; Action and Resource stay arrays in JSON.
policy_statement <- function(actions, resources, condition = NULL, sid = NULL) {
  statement <- list(Sid = sid, Effect = "Allow", Action = as.list(sort(unique(actions))),
                    Resource = as.list(unique(resources)), Condition = condition)
  statement[!vapply(statement, is.null, logical(1))]
}

# The statements allowing the rows of an actions table: one per kind of
# resource and condition, in the order the rows first name them.
policy_statements <- function(rows, where) {
  sids <- c(any = "NoResourceLevel", bucket = "Bucket", objects = "Objects", jobs = "ProcessingJobs", training_jobs = "TrainingJobs",
            role = "ExecutionRole", log_group = "LogGroup", log_streams = "LogStreams",
            repository = "Repository", image_repository = "PullImage", kms_key = "KmsKey")
  condition <- ifelse(is.na(rows$condition), "", rows$condition)
  if (nzchar(where$prefix %||% "")) condition[rows$resource == "bucket"] <- "prefix"
  group <- paste(rows$resource, condition)
  unname(lapply(unique(group), function(g) {
    these <- rows[group == g, , drop = FALSE]
    kind <- these$resource[[1]]
    how <- condition[group == g][[1]]
    # (Sids are unique within a policy: the role is passed, or read.)
    sid <- paste0(if (kind == "role") { if (identical(how, "passed_to_sagemaker")) "Pass" else "Read" },
                  sids[[kind]], if (identical(how, "grant_for_aws_resource")) "Grants")
    policy_statement(these$action, policy_resources(kind, where),
                     if (nzchar(how)) policy_condition(how, where), sid = sid)
  }))
}
