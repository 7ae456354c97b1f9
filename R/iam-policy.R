#' The IAM policies sagesim needs
#'
#' What an administrator grants so that sagesim works and can do nothing
#' more: the policy of the user (or the role a user works as, e.g. a
#' SageMaker notebook's) who submits jobs, and the policy and trust policy of
#' the jobs' execution role. The actions are exactly the calls sagesim
#' makes (a test checks them against what it sends), each scoped to the
#' resources it touches: the bucket(s), the processing jobs, their log
#' group, the ECR repository and the execution role, which the user may
#' pass to SageMaker only (`iam:PassedToService`).
#'
#' * The user: STS `GetCallerIdentity`; S3 `ListBucket` and `CreateBucket`
#'   on the bucket (the default bucket is created when missing),
#'   `GetObject`, `PutObject` (multipart uploads included),
#'   `AbortMultipartUpload` and `DeleteObject` (a failed submission removes
#'   its uploads) on its objects; SageMaker `CreateProcessingJob`, `AddTags`
#'   (jobs given `tags`), `DescribeProcessingJob`, `StopProcessingJob` on
#'   processing jobs and `ListProcessingJobs`, and the same for training jobs
#'   (`spot`, `keep_alive`: [spot_and_warm_pools]); CloudWatch Logs
#'   `DescribeLogStreams` and `GetLogEvents` on `/aws/sagemaker/ProcessingJobs`
#'   and `/aws/sagemaker/TrainingJobs`;
#'   `iam:PassRole` on the execution role; for [publish_image()], ECR
#'   `DescribeRepositories`, `CreateRepository`, `GetAuthorizationToken` and
#'   what the container engine's push needs; with a KMS key, `kms:GenerateDataKey`
#'   and `kms:Decrypt` on it (S3 asks KMS as the user); `iam:GetRole` on the
#'   execution role (a caller working as a role, given no `role`, reads its
#'   own role's ARN, path included, to use it as the execution role).
#' * The execution role: S3 `ListBucket`, `GetObject` and `PutObject` (inputs,
#'   outputs); CloudWatch Logs writes and `cloudwatch:PutMetricData`; ECR pull;
#'   with a KMS key, `Decrypt`, `GenerateDataKey` and `CreateGrant` (for
#'   volumes, by SageMaker only); in a VPC (`network`), the EC2 network
#'   interface actions SageMaker needs.
#'
#' Nothing here calls AWS: a `session` only gives the defaults.
#'
#' @param bucket Bucket(s) sagesim reads and writes: the session's (where it
#'   keeps jobs' code, inputs and outputs) and any bucket of the S3 inputs
#'   and outputs you give jobs. Default: the session's bucket, else
#'   `sagemaker-{region}-{account}`.
#' @param role Execution role(s) the user may pass to SageMaker: ARNs or
#'   names (a name may hold a path, `"service-role/MyRole"`). Default: the
#'   session's role, else every role of the account (passed to SageMaker
#'   only); naming the role is tighter.
#' @param kms_key KMS key(s) used to encrypt uploads, outputs or volumes:
#'   key ARNs or key ids (an alias cannot scope a policy). `NULL`: no KMS.
#' @param prefix Job-name prefix (e.g. `"sagesim-"`): when given, the jobs,
#'   their objects and their log streams are those whose names start with it
#'   (give jobs such names with `base_job_name` or `job_name`).
#' @param repository The ECR repository [publish_image()] pushes to (its
#'   default, `"sagesim"`); the role may pull from it only. `NULL`: the user
#'   publishes no image, and the role may pull any image.
#' @param vpc Whether jobs run in the account's VPC (`network`).
#' @param region,account Where: default the session's, else `"*"`.
#' @param session A [aws_session()] to take the defaults from, or `NULL`.
#' @return A list of class `sagesim_iam_policy`: `user`, `role` and `trust`
#'   (the role's trust policy), each an IAM policy document as an R list,
#'   and `user_json`, `role_json` and `trust_json`, the same as JSON text.
#'   Printing shows the JSON.
#' @seealso `vignette("real-account", package = "sagesim")` (roles and
#'   permissions); `?sagesim_conditions` (`sagesim_access_denied`).
#' @examples
#' policy <- sagesim_iam_policy(bucket = "my-sagesim-bucket", role = "SageMakerRole",
#'                              region = "eu-west-1", account = "123456789012")
#' policy
#' # One statement, as an R list:
#' str(policy$user$Statement[[1]])
#' @export
sagesim_iam_policy <- function(bucket = NULL, role = NULL, kms_key = NULL, prefix = NULL,
                               repository = "sagesim", vpc = FALSE, region = NULL,
                               account = NULL, session = NULL) {
  if (!is.null(session)) check_class(session, "sagesim_session", "session", "aws_session()")
  region <- check_string(region %||% session$region %||% "*", "region", pattern = "^([a-z0-9-]+|[*])$",
                         expected = "an AWS region such as \"eu-west-1\", or \"*\"")
  account <- check_string(account %||% session$account %||% "*", "account", pattern = "^([0-9]{12}|[*])$",
                          expected = "an AWS account id of 12 digits such as \"123456789012\", or \"*\"")
  bucket <- bucket %||% session$bucket %||% sprintf("sagemaker-%s-%s", region, account)
  check_strings(bucket, "bucket", null_ok = FALSE)
  if (length(bucket) == 0 || !all(grepl("^[a-z0-9*][a-z0-9.*-]{1,61}[a-z0-9*]$", bucket))) {
    abort_argument("bucket", "`bucket` must hold S3 bucket names, such as \"my-sagesim-bucket\" (lower-case letters, digits, dots and hyphens).")
  }
  check_string(prefix, "prefix", null_ok = TRUE, pattern = "^[a-zA-Z0-9-]*$",
               expected = "the start of job names, such as \"sagesim-\" (letters, digits and hyphens)")
  check_string(repository, "repository", null_ok = TRUE, pattern = "^[a-z0-9]+([._/-][a-z0-9]+)*$",
               expected = "an ECR repository name such as \"sagesim\" or \"team/sagesim\" (lower-case letters and digits, separated by . _ / or -)")
  check_flag(vpc, "vpc")
  partition <- aws_partition(region)
  where <- list(partition = partition, region = region, account = account, buckets = bucket,
                prefix = prefix %||% "", objects = paste0(prefix, "*"), jobs = paste0(prefix, "*"),
                streams = paste0(prefix, "*"), repository = repository,
                roles = policy_roles(role %||% session$role, partition, account),
                kms_keys = policy_kms_keys(kms_key %||% session$kms_key, partition, region, account))
  where$image_repositories <- if (is.null(repository)) "*" else policy_resources("repository", where)
  options <- c("always", if (length(where$kms_keys) > 0) "kms", if (!is.null(repository)) "images",
               if (vpc) "vpc")
  user <- user_actions[!is.na(user_actions$action) & user_actions$when %in% options, , drop = FALSE]
  role_rows <- role_actions[role_actions$when %in% options, , drop = FALSE]
  document <- function(statements) list(Version = "2012-10-17", Statement = statements)
  policy <- list(
    user = document(policy_statements(user, where)),
    # (The role lists under the jobs' own prefixes: no condition.)
    role = document(policy_statements(role_rows, utils::modifyList(where, list(prefix = "")))),
    trust = document(list(list(Effect = "Allow", Principal = list(Service = "sagemaker.amazonaws.com"),
                               Action = "sts:AssumeRole"))))
  for (name in c("user", "role", "trust")) {
    policy[[paste0(name, "_json")]] <- jsonlite::toJSON(policy[[name]], auto_unbox = TRUE, pretty = TRUE)
  }
  structure(policy, class = "sagesim_iam_policy")
}

# Role ARNs: names become ARNs of the account (every role when none).
policy_roles <- function(role, partition, account) {
  if (is.null(role)) return(sprintf("arn:%s:iam::%s:role/*", partition, account))
  check_strings(role, "role", null_ok = FALSE)
  arn <- grepl("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", role)
  named <- grepl("^([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", role)
  if (length(role) == 0 || !all(arn | named)) {
    abort_argument("role", "`role` must hold IAM role ARNs or role names (with a path, if any), such as \"service-role/MyRole\".")
  }
  ifelse(arn, role, sprintf("arn:%s:iam::%s:role/%s", partition, account, role))
}

# Key ARNs: ids become ARNs of the account and region.
policy_kms_keys <- function(kms_key, partition, region, account) {
  if (is.null(kms_key)) return(character())
  check_strings(kms_key, "kms_key", null_ok = FALSE)
  arn <- grepl("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", kms_key)
  id <- grepl("^(mrk-)?[0-9a-f-]{32,36}$", kms_key)
  if (length(kms_key) == 0 || !all(arn | id)) {
    abort_argument("kms_key", c("`kms_key` must hold KMS key ARNs or key ids.",
                                "An alias cannot scope an IAM policy: give the key it names."))
  }
  ifelse(arn, kms_key, sprintf("arn:%s:kms:%s:%s:key/%s", partition, region, account, kms_key))
}

#' @export
print.sagesim_iam_policy <- function(x, ...) {
  cat("# The user's policy (whoever submits jobs)\n", x$user_json, "\n", sep = "")
  cat("\n# The execution role's policy\n", x$role_json, "\n", sep = "")
  cat("\n# The execution role's trust policy\n", x$trust_json, "\n", sep = "")
  invisible(x)
}
