//! S3 operations against moto: buckets, round trips (including multipart),
//! paging, escapes, errors.

mod common;

use std::path::Path;

use common::{call, ok, write_pattern, TempDir};
use serde_json::json;

#[test]
fn ensure_bucket_creates_once_in_any_region() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let r = ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-one"}));
    assert_eq!(r, json!({"Bucket": "bucket-one", "Created": true}));
    let r = ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-one"}));
    assert_eq!(r, json!({"Bucket": "bucket-one", "Created": false}));

    // Outside us-east-1 a LocationConstraint is required.
    let mut cfg = f.moto.session_config();
    cfg.region = Some("eu-west-1".into());
    let eu = common::block_on(sagesim_aws::AwsSession::load(cfg)).unwrap();
    assert_eq!(eu.region(), "eu-west-1");
    let r = ok(&eu, "s3:EnsureBucket", json!({"Bucket": "bucket-eu"}));
    assert_eq!(r["Created"], json!(true));
    assert_eq!(
        ok(&eu, "s3:EnsureBucket", json!({"Bucket": "bucket-eu"}))["Created"],
        json!(false)
    );
}

#[test]
fn small_file_round_trip_and_listing() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let dir = TempDir::new("small");
    write_pattern(&dir.join("in.bin"), 12_345, 1);
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-k"}));
    let put = ok(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-k", "Key": "a/in.bin", "Path": dir.s("in.bin")}),
    );
    assert_eq!(
        put,
        json!({"Bucket": "bucket-k", "Key": "a/in.bin", "Uri": "s3://bucket-k/a/in.bin", "Size": 12_345})
    );

    let got = ok(
        &s,
        "s3:DownloadPrefix",
        json!({"Bucket": "bucket-k", "Prefix": "a/in.bin", "Directory": dir.s("out/deep")}),
    );
    assert_eq!(
        got,
        json!({"Files": [{"Key": "a/in.bin", "Path": dir.s("out/deep/in.bin"), "Size": 12_345}]})
    );
    assert_eq!(
        std::fs::read(dir.join("in.bin")).unwrap(),
        std::fs::read(dir.join("out/deep/in.bin")).unwrap()
    );
    // Only the final file, no temp leftovers.
    let names: Vec<_> = std::fs::read_dir(dir.join("out/deep"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("in.bin")]);

    let list = ok(
        &s,
        "s3:ListObjects",
        json!({"Bucket": "bucket-k", "Prefix": "a/"}),
    );
    let objs = list["Objects"].as_array().unwrap();
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["Key"], "a/in.bin");
    assert_eq!(objs[0]["Size"], 12_345);
    let lm = objs[0]["LastModified"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - lm).abs() < 3600.0,
        "LastModified {lm} is epoch seconds"
    );
}

#[test]
fn put_with_kms_key_is_sent_as_sse_kms() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let dir = TempDir::new("kms");
    write_pattern(&dir.join("x"), 100, 2);
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-k"}));
    f.moto
        .moto_api("POST", "/moto-api/recorder/reset-recording");
    f.moto
        .moto_api("POST", "/moto-api/recorder/start-recording");
    let r = call(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-k", "Key": "k", "Path": dir.s("x"), "KmsKeyId": "alias/sagesim"}),
    );
    f.moto.moto_api("POST", "/moto-api/recorder/stop-recording");
    r.unwrap();
    let reqs = common::recorded_requests(f.moto);
    let put = reqs
        .iter()
        .find(|(e, _)| e["method"] == "PUT")
        .expect("PUT recorded");
    assert_eq!(
        common::header(&put.0, "x-amz-server-side-encryption"),
        Some("aws:kms")
    );
    assert_eq!(
        common::header(&put.0, "x-amz-server-side-encryption-aws-kms-key-id"),
        Some("alias/sagesim")
    );
}

#[test]
fn multipart_upload_round_trip_over_64_mib() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let dir = TempDir::new("mpu");
    let size = sagesim_aws::MULTIPART_THRESHOLD as usize + 5 * 1024 * 1024 + 123;
    write_pattern(&dir.join("big.bin"), size, 3);
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-big"}));
    // Never record this one: the bodies would be 90 MB of base64.
    f.moto.moto_api("POST", "/moto-api/recorder/stop-recording");
    let t0 = std::time::Instant::now();
    let put = ok(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-big", "Key": "d/big.bin", "Path": dir.s("big.bin")}),
    );
    eprintln!("multipart upload of {size} bytes took {:?}", t0.elapsed());
    assert_eq!(put["Size"], size);
    let list = ok(&s, "s3:ListObjects", json!({"Bucket": "bucket-big"}));
    assert_eq!(list["Objects"][0]["Size"], size);
    // A multipart ETag is "<md5 of part md5s>-<part count>": 16 MiB parts -> 5.
    let conf = aws_sdk_s3::config::Builder::from(s.sdk_config())
        .endpoint_url(f.moto.endpoint())
        .force_path_style(true)
        .build();
    let head = common::block_on(
        aws_sdk_s3::Client::from_conf(conf)
            .head_object()
            .bucket("bucket-big")
            .key("d/big.bin")
            .send(),
    )
    .unwrap();
    assert!(
        head.e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .ends_with("-5"),
        "ETag {:?}",
        head.e_tag()
    );
    let got = ok(
        &s,
        "s3:DownloadPrefix",
        json!({"Bucket": "bucket-big", "Prefix": "d/big.bin", "Directory": dir.s("back")}),
    );
    assert_eq!(got["Files"][0]["Size"], size);
    assert!(
        std::fs::read(dir.join("big.bin")).unwrap()
            == std::fs::read(dir.join("back/big.bin")).unwrap(),
        "content differs"
    );
}

#[test]
fn directory_round_trip_and_paging_and_batched_delete() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let dir = TempDir::new("dir");
    let src = dir.join("src");
    // 1003 files: ListObjectsV2 pages at 1000 keys, DeleteObjects batches at 1000.
    for i in 0..1000 {
        let d = src.join(format!("many/{:02}", i % 7));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("f{i:04}.txt")), format!("file {i}")).unwrap();
    }
    std::fs::create_dir_all(src.join("code/R")).unwrap();
    std::fs::write(src.join("code/R/main.R"), "print(1)\n").unwrap();
    std::fs::write(src.join("code/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(src.join("top.txt"), "top").unwrap();
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-d"}));

    let up = ok(
        &s,
        "s3:UploadDirectory",
        json!({"Bucket": "bucket-d", "Prefix": "job/input/code", "Path": src.to_string_lossy()}),
    );
    let uploaded = up["Uploaded"].as_array().unwrap();
    assert_eq!(uploaded.len(), 1003);
    let keys: Vec<&str> = uploaded
        .iter()
        .map(|u| u["Key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"job/input/code/code/R/main.R"),
        "keys use '/': {:?}",
        &keys[..3]
    );
    assert!(keys.contains(&"job/input/code/top.txt"));
    assert!(uploaded
        .iter()
        .any(|u| u["Key"] == "job/input/code/code/R/main.R" && u["Size"] == 9));

    let list = ok(
        &s,
        "s3:ListObjects",
        json!({"Bucket": "bucket-d", "Prefix": "job/"}),
    );
    assert_eq!(
        list["Objects"].as_array().unwrap().len(),
        1003,
        "all pages listed"
    );

    let down = ok(
        &s,
        "s3:DownloadPrefix",
        json!({"Bucket": "bucket-d", "Prefix": "job/input/code/", "Directory": dir.s("dst")}),
    );
    let files = down["Files"].as_array().unwrap();
    assert_eq!(files.len(), 1003);
    assert_eq!(
        std::fs::read_to_string(dir.join("dst/code/R/main.R")).unwrap(),
        "print(1)\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("dst/many/03/f0003.txt")).unwrap(),
        "file 3"
    );
    let main = files
        .iter()
        .find(|f| f["Key"] == "job/input/code/code/R/main.R")
        .unwrap();
    assert_eq!(
        Path::new(main["Path"].as_str().unwrap()),
        dir.join("dst/code/R/main.R")
    );

    let all: Vec<String> = list["Objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap().to_owned())
        .collect();
    let del = ok(
        &s,
        "s3:DeleteObjects",
        json!({"Bucket": "bucket-d", "Keys": all}),
    );
    assert_eq!(del, json!({"Deleted": 1003}));
    assert_eq!(
        ok(&s, "s3:ListObjects", json!({"Bucket": "bucket-d"}))["Objects"],
        json!([])
    );
}

#[test]
fn download_prefix_refuses_keys_escaping_the_directory() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let dir = TempDir::new("escape");
    std::fs::write(dir.join("x"), "x").unwrap();
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-e"}));
    ok(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-e", "Key": "p/ok.txt", "Path": dir.s("x")}),
    );
    ok(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-e", "Key": "p/a/../../../evil.txt", "Path": dir.s("x")}),
    );
    let keys = ok(
        &s,
        "s3:ListObjects",
        json!({"Bucket": "bucket-e", "Prefix": "p/"}),
    );
    assert!(
        keys["Objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["Key"] == "p/a/../../../evil.txt"),
        "the hostile key is stored verbatim: {keys}"
    );
    let err = call(
        &s,
        "s3:DownloadPrefix",
        json!({"Bucket": "bucket-e", "Prefix": "p/", "Directory": dir.s("out/inner")}),
    )
    .unwrap_err();
    assert_eq!(err.kind, "invalid_request");
    assert_eq!(err.code.as_deref(), Some("UnsafeKey"));
    assert!(err.message.contains("evil.txt"), "{err}");
    assert!(!dir.join("out").exists(), "nothing written before refusing");
    assert!(!dir.join("evil.txt").exists());
}

#[test]
fn local_path_for_key_rules() {
    let d = Path::new("/tmp/dst");
    let p = |prefix: &str, key: &str| sagesim_aws::local_path_for_key(d, prefix, key);
    assert_eq!(
        p("job/out/", "job/out/a/b.rds").unwrap(),
        Some(d.join("a/b.rds"))
    );
    assert_eq!(
        p("job/out", "job/out/a.rds").unwrap(),
        Some(d.join("a.rds"))
    );
    assert_eq!(p("", "x//y/./z").unwrap(), Some(d.join("x/y/z")));
    assert_eq!(
        p("job/out/a.rds", "job/out/a.rds").unwrap(),
        Some(d.join("a.rds"))
    );
    assert_eq!(p("job/", "job/dir/").unwrap(), None);
    assert!(p("job/", "job/../x").is_err());
    assert!(p("", "..").is_err());
    assert!(p("job/", "job/a/../../b").is_err());
}

#[test]
fn missing_bucket_and_key_are_service_errors_with_metadata() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let e = call(&s, "s3:ListObjects", json!({"Bucket": "nope"})).unwrap_err();
    assert_eq!(e.kind, "service");
    assert_eq!(
        (e.service.as_str(), e.operation.as_str()),
        ("s3", "ListObjectsV2")
    );
    assert_eq!(e.code.as_deref(), Some("NoSuchBucket"));
    assert!(!e.message.is_empty());
    assert_eq!(e.http_status, Some(404));
    assert!(
        e.request_id.as_deref().is_some_and(|r| !r.is_empty()),
        "request id: {e:?}"
    );

    let dir = TempDir::new("nokey");
    ok(&s, "s3:EnsureBucket", json!({"Bucket": "bucket-here"}));
    std::fs::write(dir.join("keep.txt"), "old").unwrap();
    let got = ok(
        &s,
        "s3:DownloadPrefix",
        json!({"Bucket": "bucket-here", "Prefix": "keep.txt", "Directory": dir.s("")}),
    );
    assert_eq!(got, json!({"Files": []}), "nothing there, nothing written");
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "old",
        "existing file untouched"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp files left"
    );

    let e = call(
        &s,
        "s3:PutObjectFromFile",
        json!({"Bucket": "bucket-here", "Key": "k", "Path": dir.s("absent")}),
    )
    .unwrap_err();
    assert_eq!(e.kind, "io");
}

#[test]
fn bad_params_are_invalid_requests() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let e = call(&s, "s3:EnsureBucket", json!({})).unwrap_err();
    assert_eq!(e.kind, "invalid_request");
    assert!(e.message.contains("Bucket"), "{e}");
    let e = call(
        &s,
        "s3:EnsureBucket",
        json!({"Bucket": "b", "Bukket": "typo"}),
    )
    .unwrap_err();
    assert_eq!(e.kind, "invalid_request");
    assert!(e.message.contains("Bukket"), "{e}");
}
