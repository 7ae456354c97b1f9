# What sagesim asks of AWS, written once: every operation of the Rust
# dispatch (src/rust/aws/src/dispatch.rs), the API calls it makes and the
# IAM action each needs, on which kind of resource. sagesim_iam_policy()
# writes its policies from these tables, aws_request() refuses an operation
# missing here, and a refused call is explained from them
# (tests/testthat/test-permissions.R checks them against the dispatch and
# against what a run of sagesim sends).

# A table from rows given as strings, `columns` at a time.
action_rows <- function(columns, ...) {
  cells <- matrix(c(...), ncol = length(columns), byrow = TRUE)
  cells[cells == ""] <- NA_character_
  table <- as.data.frame(cells, stringsAsFactors = FALSE)
  names(table) <- columns
  table
}

# The user's side. `call`: the API call sent (NA: the operation calls no
# AWS API). `resource`: the kind of resource (see policy_resources()).
# `when`: "always", or the option that needs it ("kms": a KMS key is used;
# "images": publish_image()). `by`: who sends the call: sagesim itself,
# S3 on the caller's behalf (KMS, for SSE-KMS objects), or the container
# engine that pushes an image with the ECR token sagesim gave it.
# `condition`: a condition the statement carries (see policy_condition()).
user_actions <- action_rows(
  c("operation", "call", "action", "resource", "when", "by", "condition"),
  "sts:GetCallerIdentity", "GetCallerIdentity", "sts:GetCallerIdentity", "any", "always", "sagesim", "",
  # (An assumed-role caller given no role reads its own role's ARN, path
  # included: its default execution role, so the same ARN as PassRole's.)
  "iam:GetRole", "GetRole", "iam:GetRole", "role", "always", "sagesim", "",
  "s3:EnsureBucket", "HeadBucket", "s3:ListBucket", "bucket", "always", "sagesim", "",
  "s3:EnsureBucket", "CreateBucket", "s3:CreateBucket", "bucket", "always", "sagesim", "",
  "s3:PutObjectFromFile", "PutObject", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:PutObjectFromFile", "CreateMultipartUpload", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:PutObjectFromFile", "UploadPart", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:PutObjectFromFile", "CompleteMultipartUpload", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:PutObjectFromFile", "AbortMultipartUpload", "s3:AbortMultipartUpload", "objects", "always", "sagesim", "",
  "s3:PutObjectFromFile", "PutObject", "kms:GenerateDataKey", "kms_key", "kms", "s3", "",
  "s3:PutObjectFromFile", "CreateMultipartUpload", "kms:GenerateDataKey", "kms_key", "kms", "s3", "",
  "s3:PutObjectFromFile", "CompleteMultipartUpload", "kms:Decrypt", "kms_key", "kms", "s3", "",
  "s3:UploadDirectory", "PutObject", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:UploadDirectory", "CreateMultipartUpload", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:UploadDirectory", "UploadPart", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:UploadDirectory", "CompleteMultipartUpload", "s3:PutObject", "objects", "always", "sagesim", "",
  "s3:UploadDirectory", "AbortMultipartUpload", "s3:AbortMultipartUpload", "objects", "always", "sagesim", "",
  "s3:UploadDirectory", "PutObject", "kms:GenerateDataKey", "kms_key", "kms", "s3", "",
  "s3:UploadDirectory", "CreateMultipartUpload", "kms:GenerateDataKey", "kms_key", "kms", "s3", "",
  "s3:UploadDirectory", "CompleteMultipartUpload", "kms:Decrypt", "kms_key", "kms", "s3", "",
  "s3:DownloadPrefix", "ListObjectsV2", "s3:ListBucket", "bucket", "always", "sagesim", "",
  "s3:DownloadPrefix", "GetObject", "s3:GetObject", "objects", "always", "sagesim", "",
  "s3:DownloadPrefix", "GetObject", "kms:Decrypt", "kms_key", "kms", "s3", "",
  "s3:ListObjects", "ListObjectsV2", "s3:ListBucket", "bucket", "always", "sagesim", "",
  "s3:DeleteObjects", "DeleteObjects", "s3:DeleteObject", "objects", "always", "sagesim", "",
  "sagemaker:CreateProcessingJob", "CreateProcessingJob", "sagemaker:CreateProcessingJob", "jobs", "always", "sagesim", "",
  # (A job given `tags` is tagged as it is created, which needs AddTags.)
  "sagemaker:CreateProcessingJob", "CreateProcessingJob", "sagemaker:AddTags", "jobs", "always", "sagesim", "",
  "sagemaker:CreateProcessingJob", "CreateProcessingJob", "iam:PassRole", "role", "always", "sagesim", "passed_to_sagemaker",
  "sagemaker:DescribeProcessingJob", "DescribeProcessingJob", "sagemaker:DescribeProcessingJob", "jobs", "always", "sagesim", "",
  "sagemaker:StopProcessingJob", "StopProcessingJob", "sagemaker:StopProcessingJob", "jobs", "always", "sagesim", "",
  "sagemaker:ListProcessingJobs", "ListProcessingJobs", "sagemaker:ListProcessingJobs", "any", "always", "sagesim", "",
  # (Spot and warm-pool jobs are Training jobs: R/job-kinds.R.)
  "sagemaker:CreateTrainingJob", "CreateTrainingJob", "sagemaker:CreateTrainingJob", "training_jobs", "always", "sagesim", "",
  "sagemaker:CreateTrainingJob", "CreateTrainingJob", "sagemaker:AddTags", "training_jobs", "always", "sagesim", "",
  "sagemaker:CreateTrainingJob", "CreateTrainingJob", "iam:PassRole", "role", "always", "sagesim", "passed_to_sagemaker",
  "sagemaker:DescribeTrainingJob", "DescribeTrainingJob", "sagemaker:DescribeTrainingJob", "training_jobs", "always", "sagesim", "",
  "sagemaker:StopTrainingJob", "StopTrainingJob", "sagemaker:StopTrainingJob", "training_jobs", "always", "sagesim", "",
  "sagemaker:ListTrainingJobs", "ListTrainingJobs", "sagemaker:ListTrainingJobs", "any", "always", "sagesim", "",
  "logs:DescribeLogStreams", "DescribeLogStreams", "logs:DescribeLogStreams", "log_group", "always", "sagesim", "",
  "logs:GetLogEvents", "GetLogEvents", "logs:GetLogEvents", "log_streams", "always", "sagesim", "",
  "ecr:EnsureRepository", "DescribeRepositories", "ecr:DescribeRepositories", "repository", "images", "sagesim", "",
  "ecr:EnsureRepository", "CreateRepository", "ecr:CreateRepository", "repository", "images", "sagesim", "",
  "ecr:Login", "GetAuthorizationToken", "ecr:GetAuthorizationToken", "any", "images", "sagesim", "",
  "ecr:Login", "BatchCheckLayerAvailability", "ecr:BatchCheckLayerAvailability", "repository", "images", "engine", "",
  "ecr:Login", "InitiateLayerUpload", "ecr:InitiateLayerUpload", "repository", "images", "engine", "",
  "ecr:Login", "UploadLayerPart", "ecr:UploadLayerPart", "repository", "images", "engine", "",
  "ecr:Login", "CompleteLayerUpload", "ecr:CompleteLayerUpload", "repository", "images", "engine", "",
  "ecr:Login", "PutImage", "ecr:PutImage", "repository", "images", "engine", "",
  # (Writes the session's credentials for a local job's hosts: no AWS call.)
  "session:WriteHostCredentials", "", "", "", "always", "sagesim", ""
)

# The execution role's side: what SageMaker does as the role while a job
# runs (fetch the image, read inputs, write outputs and logs), as the
# SageMaker developer guide lists it for CreateProcessingJob. `when`:
# "always", "kms" (a KMS key encrypts uploads, outputs or volumes), "vpc"
# (the job runs in the account's VPC: `network`).
role_actions <- action_rows(
  c("action", "resource", "when", "condition"),
  "s3:ListBucket", "bucket", "always", "",
  "s3:GetObject", "objects", "always", "",
  "s3:PutObject", "objects", "always", "",
  "logs:CreateLogGroup", "log_group", "always", "",
  "logs:DescribeLogStreams", "log_group", "always", "",
  "logs:CreateLogStream", "log_streams", "always", "",
  "logs:PutLogEvents", "log_streams", "always", "",
  "cloudwatch:PutMetricData", "any", "always", "",
  "ecr:GetAuthorizationToken", "any", "always", "",
  "ecr:BatchCheckLayerAvailability", "image_repository", "always", "",
  "ecr:GetDownloadUrlForLayer", "image_repository", "always", "",
  "ecr:BatchGetImage", "image_repository", "always", "",
  "kms:Decrypt", "kms_key", "kms", "",
  "kms:GenerateDataKey", "kms_key", "kms", "",
  "kms:CreateGrant", "kms_key", "kms", "grant_for_aws_resource",
  "ec2:CreateNetworkInterface", "any", "vpc", "",
  "ec2:CreateNetworkInterfacePermission", "any", "vpc", "",
  "ec2:DeleteNetworkInterface", "any", "vpc", "",
  "ec2:DeleteNetworkInterfacePermission", "any", "vpc", "",
  "ec2:DescribeNetworkInterfaces", "any", "vpc", "",
  "ec2:DescribeVpcs", "any", "vpc", "",
  "ec2:DescribeDhcpOptions", "any", "vpc", "",
  "ec2:DescribeSubnets", "any", "vpc", "",
  "ec2:DescribeSecurityGroups", "any", "vpc", ""
)

# The log groups SageMaker's Processing and Training jobs write to.
job_log_groups <- c("/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs")

# An operation the tables do not know is a bug: its permissions would be
# missing from sagesim_iam_policy().
check_known_operation <- function(operation) {
  if (!operation %in% user_actions$operation) {
    abort(sprintf("sagesim has no IAM actions listed for the AWS operation %s (R/aws-actions.R).",
                  operation), class = "sagesim_internal_error")
  }
  invisible(operation)
}
