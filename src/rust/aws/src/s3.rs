//! S3: buckets, streaming uploads/downloads between local files and objects.
//!
//! Bodies are streamed from and to disk (never held in memory); large files go
//! through multipart upload with bounded concurrency.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, Delete, ObjectIdentifier, ServerSideEncryption,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::error::AwsError;
use crate::json::{params, secs, Obj};
use crate::session::AwsSession;

const SVC: &str = "s3";
/// Files larger than this go through multipart upload.
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
const MIN_PART_SIZE: u64 = 16 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
const PART_CONCURRENCY: usize = 4;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BucketArgs {
    bucket: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutArgs {
    bucket: String,
    key: String,
    path: String,
    kms_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UploadDirArgs {
    bucket: String,
    #[serde(default)]
    prefix: String,
    path: String,
    kms_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DownloadPrefixArgs {
    bucket: String,
    #[serde(default)]
    prefix: String,
    directory: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ListArgs {
    bucket: String,
    #[serde(default)]
    prefix: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DeleteArgs {
    bucket: String,
    keys: Vec<String>,
}

/// `s3:EnsureBucket`: HeadBucket, and CreateBucket in the session's region on 404.
pub(crate) async fn ensure_bucket(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "EnsureBucket";
    let a: BucketArgs = params(SVC, OP, p)?;
    match s.s3.head_bucket().bucket(&a.bucket).send().await {
        Ok(_) => return Ok(json!({"Bucket": a.bucket, "Created": false})),
        Err(e) => {
            let missing = e.raw_response().map(|r| r.status().as_u16()) == Some(404)
                || e.as_service_error().is_some_and(|se| se.is_not_found());
            if !missing {
                return Err(AwsError::from_sdk(SVC, "HeadBucket", &e));
            }
        }
    }
    let mut req = s.s3.create_bucket().bucket(&a.bucket);
    let region = s.region();
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(json!({"Bucket": a.bucket, "Created": true})),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_bucket_already_owned_by_you()) =>
        {
            Ok(json!({"Bucket": a.bucket, "Created": false}))
        }
        Err(e) => Err(AwsError::from_sdk(SVC, "CreateBucket", &e)),
    }
}

/// `s3:PutObjectFromFile`.
pub(crate) async fn put_object_from_file(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "PutObjectFromFile";
    let a: PutArgs = params(SVC, OP, p)?;
    let size = upload_file(
        s,
        OP,
        &a.bucket,
        &a.key,
        Path::new(&a.path),
        a.kms_key_id.as_deref(),
    )
    .await?;
    Ok(json!({
        "Bucket": a.bucket,
        "Key": a.key,
        "Uri": format!("s3://{}/{}", a.bucket, a.key),
        "Size": size,
    }))
}

/// `s3:UploadDirectory`: every regular file below Path, keys Prefix + relative path with '/'.
pub(crate) async fn upload_directory(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "UploadDirectory";
    let a: UploadDirArgs = params(SVC, OP, p)?;
    let root = PathBuf::from(&a.path);
    let files = tokio::task::spawn_blocking(move || list_files(&root))
        .await
        .map_err(|e| AwsError::new("io", SVC, OP, format!("directory walk failed: {e}")))?
        .map_err(|e| AwsError::io(SVC, OP, &format!("cannot read directory {}", a.path), &e))?;
    let prefix = key_prefix(&a.prefix);
    let mut uploaded = Vec::with_capacity(files.len());
    for (rel, local) in files {
        let key = format!("{prefix}{}", rel.join("/"));
        let size = upload_file(s, OP, &a.bucket, &key, &local, a.kms_key_id.as_deref()).await?;
        uploaded.push(json!({"Key": key, "Size": size}));
    }
    Ok(json!({"Uploaded": uploaded}))
}

/// "a/b" -> "a/b/", "" stays "".
fn key_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// Directory nesting beyond this is taken to be a symlink loop.
const MAX_DEPTH: usize = 64;

/// Regular files below `root` (following symlinks): key components and
/// local path, sorted by key.
fn list_files(root: &Path) -> std::io::Result<Vec<(Vec<String>, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, rel)) = stack.pop() {
        if rel.len() > MAX_DEPTH {
            return Err(std::io::Error::other(format!(
                "{} is nested more than {MAX_DEPTH} levels deep (symlink loop?)",
                dir.display()
            )));
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let meta = std::fs::metadata(&path)?;
            let mut child = rel.clone();
            child.push(entry.file_name().to_string_lossy().into_owned());
            if meta.is_dir() {
                stack.push((path, child));
            } else if meta.is_file() {
                out.push((child, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Upload one file, single PUT or multipart by size; returns the size.
async fn upload_file(
    s: &AwsSession,
    op: &str,
    bucket: &str,
    key: &str,
    path: &Path,
    kms_key_id: Option<&str>,
) -> Result<u64, AwsError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| AwsError::io(SVC, op, &format!("cannot read {}", path.display()), &e))?;
    if !meta.is_file() {
        return Err(AwsError::new(
            "io",
            SVC,
            op,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let size = meta.len();
    if size > MULTIPART_THRESHOLD {
        multipart_upload(s, op, bucket, key, path, size, kms_key_id).await?;
        return Ok(size);
    }
    let body = ByteStream::from_path(path).await.map_err(|e| {
        AwsError::new(
            "io",
            SVC,
            op,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mut req =
        s.s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .content_length(size as i64);
    if let Some(k) = kms_key_id {
        req = req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    req.send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, "PutObject", &e))?;
    crate::progress::count_sent(size);
    Ok(size)
}

/// Part size: at least 16 MiB, large enough to stay within 10,000 parts.
fn part_size(size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    let mib = 1024 * 1024;
    needed.max(MIN_PART_SIZE).div_ceil(mib) * mib
}

async fn multipart_upload(
    s: &AwsSession,
    op: &str,
    bucket: &str,
    key: &str,
    path: &Path,
    size: u64,
    kms_key_id: Option<&str>,
) -> Result<(), AwsError> {
    // CRC32 declared up front so part checksums and the completion agree.
    let mut create =
        s.s3.create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32);
    if let Some(k) = kms_key_id {
        create = create
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    let created = create
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, "CreateMultipartUpload", &e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| {
            AwsError::new(
                "service",
                SVC,
                "CreateMultipartUpload",
                "no UploadId in the response",
            )
        })?
        .to_owned();

    match upload_parts(s, op, bucket, key, path, size, &upload_id).await {
        Ok(parts) => {
            let done =
                s.s3.complete_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await;
            match done {
                Ok(_) => Ok(()),
                Err(e) => {
                    abort(s, bucket, key, &upload_id).await;
                    Err(AwsError::from_sdk(SVC, "CompleteMultipartUpload", &e))
                }
            }
        }
        Err(e) => {
            abort(s, bucket, key, &upload_id).await;
            Err(e)
        }
    }
}

/// Best effort: an abandoned upload only costs storage until a lifecycle rule removes it.
async fn abort(s: &AwsSession, bucket: &str, key: &str, upload_id: &str) {
    let _ =
        s.s3.abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
}

async fn upload_parts(
    s: &AwsSession,
    op: &str,
    bucket: &str,
    key: &str,
    path: &Path,
    size: u64,
    upload_id: &str,
) -> Result<Vec<CompletedPart>, AwsError> {
    let psize = part_size(size);
    let count = size.div_ceil(psize);
    let mut parts: Vec<CompletedPart> = Vec::with_capacity(count as usize);
    // (Each part's task hands back its length: the parts run as tasks of
    // their own, outside the caller's byte counter, which counts them here.)
    let mut tasks: JoinSet<Result<(CompletedPart, u64), AwsError>> = JoinSet::new();
    let mut next = 0u64;
    loop {
        while next < count && tasks.len() < PART_CONCURRENCY {
            let offset = next * psize;
            let len = psize.min(size - offset);
            let number = (next + 1) as i32;
            let client = s.s3.clone();
            let (bucket, key, upload_id, path, op) = (
                bucket.to_owned(),
                key.to_owned(),
                upload_id.to_owned(),
                path.to_owned(),
                op.to_owned(),
            );
            tasks.spawn(async move {
                let body = ByteStream::read_from()
                    .path(&path)
                    .offset(offset)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| {
                        AwsError::new(
                            "io",
                            SVC,
                            &op,
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(len as i64)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(SVC, "UploadPart", &e))?;
                let part = CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                    .build();
                Ok((part, len))
            });
            next += 1;
        }
        match tasks.join_next().await {
            None => break,
            Some(Ok(Ok((part, len)))) => {
                crate::progress::count_sent(len);
                parts.push(part)
            }
            Some(Ok(Err(e))) => return Err(e), // dropping `tasks` aborts the rest
            Some(Err(e)) => {
                return Err(AwsError::new(
                    "io",
                    SVC,
                    op,
                    format!("upload task failed: {e}"),
                ))
            }
        }
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

/// Stream an object into a temp file beside `dest`, then rename: `dest` is
/// either absent, the old file, or the complete new file.
async fn download(
    s: &AwsSession,
    op: &str,
    bucket: &str,
    key: &str,
    dest: &Path,
) -> Result<u64, AwsError> {
    let io = |what: String, e: std::io::Error| AwsError::io(SVC, op, &what, &e);
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = dest.file_name().ok_or_else(|| {
        AwsError::invalid(SVC, op, format!("{} is not a file path", dest.display()))
    })?;
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| io(format!("cannot create {}", parent.display()), e))?;

    let out =
        s.s3.get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SVC, "GetObject", &e))?;

    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = parent.join(format!(
        ".{}.{}-{nonce}.part",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io(format!("cannot create {}", tmp.display()), e))?;
        let mut reader = out.body.into_async_read();
        let n = tokio::io::copy(&mut reader, &mut file).await.map_err(|e| {
            AwsError::new(
                "network",
                SVC,
                op,
                format!("download of s3://{bucket}/{key} failed: {e}"),
            )
        })?;
        file.flush()
            .await
            .map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
        file.sync_all()
            .await
            .map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
        drop(file);
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| io(format!("cannot move download to {}", dest.display()), e))?;
        Ok::<u64, AwsError>(n)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// All objects under a prefix, following continuation tokens.
async fn list_all(
    s: &AwsSession,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<aws_sdk_s3::types::Object>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req =
            s.s3.list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.take());
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        let page = req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SVC, "ListObjectsV2", &e))?;
        out.extend(page.contents().iter().cloned());
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) && !t.is_empty() => {
                token = Some(t.to_owned())
            }
            _ => break,
        }
    }
    Ok(out)
}

/// `s3:ListObjects`.
pub(crate) async fn list_objects(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "ListObjects";
    let a: ListArgs = params(SVC, OP, p)?;
    let objects: Vec<Value> = list_all(s, &a.bucket, &a.prefix)
        .await?
        .iter()
        .map(|o| {
            Obj::new()
                .opt("Key", o.key())
                .opt("Size", o.size())
                .opt("LastModified", o.last_modified().map(secs))
                .build()
        })
        .collect();
    Ok(json!({"Objects": objects}))
}

/// Local path for `key` under `dir`, or an error if the key would escape `dir`.
pub fn local_path_for_key(dir: &Path, prefix: &str, key: &str) -> Result<Option<PathBuf>, String> {
    let rel = key
        .strip_prefix(prefix)
        .unwrap_or(key)
        .trim_start_matches('/');
    let rel = if rel.is_empty() {
        key.rsplit('/').next().unwrap_or("")
    } else {
        rel
    };
    if rel.is_empty() || key.ends_with('/') {
        return Ok(None); // "directory" placeholder objects carry no file
    }
    let mut path = dir.to_path_buf();
    for seg in rel.split('/') {
        let unsafe_seg = seg == ".."
            || seg.contains('\0')
            || (cfg!(windows) && (seg.contains('\\') || seg.contains(':')));
        if unsafe_seg {
            return Err(format!(
                "object key {key:?} would be written outside {}",
                dir.display()
            ));
        }
        if seg.is_empty() || seg == "." {
            continue;
        }
        path.push(seg);
    }
    Ok(Some(path))
}

/// `s3:DownloadPrefix`: every object under Prefix into Directory. All keys are
/// checked before anything is written.
pub(crate) async fn download_prefix(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "DownloadPrefix";
    let a: DownloadPrefixArgs = params(SVC, OP, p)?;
    let dir = PathBuf::from(&a.directory);
    let objects = list_all(s, &a.bucket, &a.prefix).await?;
    let mut plan = Vec::with_capacity(objects.len());
    for o in &objects {
        let Some(key) = o.key() else { continue };
        match local_path_for_key(&dir, &a.prefix, key) {
            Ok(Some(path)) => plan.push((key.to_owned(), path)),
            Ok(None) => {}
            Err(msg) => return Err(AwsError::invalid(SVC, OP, msg).with_code("UnsafeKey")),
        }
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AwsError::io(SVC, OP, &format!("cannot create {}", dir.display()), &e))?;
    let mut files = Vec::with_capacity(plan.len());
    for (key, path) in plan {
        let size = download(s, OP, &a.bucket, &key, &path).await?;
        files.push(json!({"Key": key, "Path": path.to_string_lossy(), "Size": size}));
    }
    Ok(json!({"Files": files}))
}

/// `s3:DeleteObjects`, in batches of 1000 (the API maximum).
pub(crate) async fn delete_objects(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "DeleteObjects";
    let a: DeleteArgs = params(SVC, OP, p)?;
    let mut deleted = 0usize;
    for batch in a.keys.chunks(1000) {
        let ids = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(SVC, OP, e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(false)
            .build()
            .map_err(|e| AwsError::invalid(SVC, OP, e.to_string()))?;
        let out =
            s.s3.delete_objects()
                .bucket(&a.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SVC, "DeleteObjects", &e))?;
        deleted += out.deleted().len();
        if let Some(first) = out.errors().first() {
            let mut err = AwsError::new(
                "service",
                SVC,
                OP,
                format!(
                    "{} of {} keys not deleted; first {:?}: {}",
                    out.errors().len(),
                    batch.len(),
                    first.key().unwrap_or(""),
                    first.message().unwrap_or("")
                ),
            );
            err.code = first.code().map(str::to_owned);
            return Err(err);
        }
    }
    Ok(json!({"Deleted": deleted}))
}
