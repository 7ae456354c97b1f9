# The price table: the shipped one, a user's own, and refreshing it from
# AWS's bulk price list (here a fixture in the offer files' structure).

test_that("the shipped table names a source and a date for every row", {
  withr::local_options(sagesim.prices = NULL)
  prices <- sagemaker_prices()
  expect_named(prices, c("instance_type", "region", "usd_per_hour", "vcpu", "memory_gib",
                         "source", "date"))
  expect_gt(nrow(prices), 0)
  expect_true(all(grepl("^ml\\.", prices$instance_type)))
  expect_true(all(prices$usd_per_hour > 0))
  # Every row says where its numbers were read: a public address and a date.
  expect_true(all(grepl("https://", prices$source, fixed = TRUE)))
  expect_true(all(grepl("^[0-9]{4}-[0-9]{2}", prices$date)))
  header <- readLines(system.file("prices", "sagemaker-processing.csv", package = "sagesim"), n = 3)
  expect_match(paste(header, collapse = " "), "compiled [0-9]{4}-[0-9]{2}-[0-9]{2}")
})

test_that("a price is looked up by type and region; anything else is unknown, not guessed", {
  withr::local_options(sagesim.prices = data.frame(
    instance_type = c("ml.a.xlarge", "ml.a.xlarge", "ml.b.large"),
    region = c("r-east-1", "r-west-1", "r-east-1"), usd_per_hour = c(0.5, 0.75, 2),
    vcpu = c(4, NA, NA), memory_gib = c(16, NA, 8), source = "test", date = "2026-01-01"))
  known <- sagesim:::price_of("ml.a.xlarge", "r-west-1")
  expect_true(known$known)
  expect_identical(known$usd_per_hour, 0.75)
  # The hardware is the same in every region.
  expect_identical(known$vcpu, 4)
  expect_identical(known$memory_gib, 16)
  for (unknown in list(sagesim:::price_of("ml.a.xlarge", "r-north-1"),
                       sagesim:::price_of("ml.c.large", "r-east-1"),
                       sagesim:::price_of("ml.a.xlarge", NA_character_))) {
    expect_false(unknown$known)
    expect_identical(unknown$usd_per_hour, NA_real_)
  }
  expect_match(sagesim:::price_unknown_reason(sagesim:::price_of("ml.c.large", "r-east-1")),
               "price unknown for ml.c.large in r-east-1")
})

test_that("options(sagesim.prices = ) takes a CSV file, and a bad table is refused by name", {
  path <- withr::local_tempfile(fileext = ".csv")
  writeLines(c("# my prices", "instance_type,region,usd_per_hour,vcpu,memory_gib,source,date",
               "ml.z.large,x-1,1.5,2,,\"our contract, 2026\",2026-02-01"), path)
  withr::local_options(sagesim.prices = path)
  prices <- sagemaker_prices()
  expect_identical(prices$usd_per_hour, 1.5)
  expect_identical(prices$source, "our contract, 2026")
  expect_identical(prices$memory_gib, NA_real_)

  good <- prices
  bad <- list(
    missing_column = good[setdiff(names(good), "usd_per_hour")],
    negative = transform(good, usd_per_hour = -1),
    not_a_number = transform(good, usd_per_hour = "cheap"),
    no_price = transform(good, usd_per_hour = NA),
    twice = rbind(good, good))
  for (name in names(bad)) {
    withr::local_options(sagesim.prices = bad[[name]])
    expect_error(sagemaker_prices(), class = "sagesim_invalid_argument", info = name)
  }
  withr::local_options(sagesim.prices = file.path(tempdir(), "no-such-prices.csv"))
  expect_error(sagemaker_prices(), "does not exist", class = "sagesim_invalid_argument")
  withr::local_options(sagesim.prices = 42)
  expect_error(sagemaker_prices(), "data.frame or the path", class = "sagesim_invalid_argument")
})

# A region's offer file as AWS's bulk price list lays it out: products by
# sku with their attributes, terms.OnDemand by sku, then by offer term, with
# price dimensions. Structure only: the numbers are made up for the test.
offer_fixture <- function(region, prefix) {
  product <- function(sku, usage, component, extra = list()) {
    list(sku = sku, productFamily = "ML Instance", attributes = utils::modifyList(list(
      servicecode = "AmazonSageMaker", location = "somewhere", locationType = "AWS Region",
      regionCode = region, usagetype = usage, operation = "RunInstance",
      instanceType = paste0(sub("^.*:", "", usage), "-", component), component = component,
      vCpu = "4", memory = "16 GiB"), extra))
  }
  term <- function(sku, prices) {
    dimensions <- lapply(seq_along(prices), function(k) list(
      rateCode = sprintf("%s.JRTCKXETXF.%d", sku, k),
      description = sprintf("$%s per Processing hour", prices[[k]]), beginRange = "0",
      endRange = "Inf", unit = "Hrs", pricePerUnit = list(USD = format(prices[[k]], nsmall = 10)),
      appliesTo = list()))
    names(dimensions) <- vapply(dimensions, `[[`, "", "rateCode")
    stats::setNames(list(list(offerTermCode = "JRTCKXETXF", sku = sku,
                              effectiveDate = "2026-01-01T00:00:00Z", priceDimensions = dimensions,
                              termAttributes = setNames(list(), character()))),
                    paste0(sku, ".JRTCKXETXF"))
  }
  products <- list(
    PROC = product("PROC", paste0(prefix, "-Processing:ml.q5.xlarge"), "Processing"),
    TRAIN = product("TRAIN", paste0(prefix, "-Train:ml.q5.xlarge"), "Training"),
    WRANGLE = product("WRANGLE", paste0(prefix, "-Processing_DW:ml.q5.4xlarge"),
                      "DataWrangler-Processing"),
    OUTPOST = product("OUTPOST", paste0(prefix, "-Processing:ml.q5.2xlarge"), "Processing",
                      list(locationType = "AWS Outposts")),
    TWO = product("TWO", paste0(prefix, "-Processing:ml.q5.large"), "Processing"),
    # (Not every product says its component.)
    BARE = product("BARE", paste0(prefix, "-Train:ml.q5.2xlarge"), "Training",
                   list(component = NULL)))
  list(formatVersion = "v1.0", disclaimer = "test", offerCode = "AmazonSageMaker",
       version = "20260101000000", publicationDate = "2026-01-02T03:04:05Z",
       products = products,
       terms = list(OnDemand = list(PROC = term("PROC", 1.2345), TRAIN = term("TRAIN", 9.5),
                                    WRANGLE = term("WRANGLE", 8.5), OUTPOST = term("OUTPOST", 7.5),
                                    TWO = term("TWO", c(0.1, 0.2)), BARE = term("BARE", 6.5))))
}

test_that("the offer parser keeps Processing instance-hours with one hourly USD price", {
  rows <- sagesim:::parse_offer_prices(offer_fixture("us-east-1", "USE1"), "fixture")
  expect_identical(rows$instance_type, "ml.q5.xlarge")
  expect_identical(rows$region, "us-east-1")
  expect_identical(rows$usd_per_hour, 1.2345)
  expect_identical(rows$vcpu, 4)
  expect_identical(rows$memory_gib, 16)
  expect_identical(rows$date, "2026-01-02")
  expect_match(rows$source, "AWS price list, AmazonSageMaker offer 20260101000000 (fixture), sku PROC",
               fixed = TRUE)
  expect_error(sagesim:::parse_offer_prices(list(formatVersion = "v1.0")), class = "sagesim_prices_unavailable")
})

# The price list's files under a folder, served as file:// URLs.
write_price_list <- function(root, regions) {
  base <- file.path(root, "offers", "v1.0", "aws", "AmazonSageMaker")
  entries <- list()
  for (region in names(regions)) {
    path <- sprintf("/offers/v1.0/aws/AmazonSageMaker/20260101000000/%s/index.json", region)
    dir.create(dirname(file.path(root, path)), recursive = TRUE, showWarnings = FALSE)
    jsonlite::write_json(offer_fixture(region, regions[[region]]), file.path(root, path),
                         auto_unbox = TRUE, digits = NA)
    entries[[region]] <- list(regionCode = region, currentVersionUrl = path)
  }
  dir.create(file.path(base, "current"), recursive = TRUE, showWarnings = FALSE)
  index <- file.path(base, "current", "region_index.json")
  jsonlite::write_json(list(formatVersion = "v1.0", publicationDate = "2026-01-02T03:04:05Z",
                            regions = entries), index, auto_unbox = TRUE)
  paste0("file://", normalizePath(index))
}

test_that("update_sagemaker_prices() reads the region index and each region's offer into a usable table", {
  root <- withr::local_tempdir()
  index_url <- write_price_list(root, c(`us-east-1` = "USE1", `eu-west-1` = "EU"))
  path <- file.path(withr::local_tempdir(), "prices", "sagemaker.csv")
  expect_warning(
    table <- update_sagemaker_prices(path, regions = c("eu-west-1", "us-east-1", "xx-nowhere-1"),
                                     index_url = index_url, timeout = 10),
    "no SageMaker offer for xx-nowhere-1")
  expect_identical(table$region, c("eu-west-1", "us-east-1"))
  expect_identical(table$usd_per_hour, c(1.2345, 1.2345))
  # What it wrote is a table the option takes, and then prices jobs.
  expect_true(file.exists(path))
  withr::local_options(sagesim.prices = path)
  expect_identical(sagemaker_prices(), table)
  price <- sagesim:::price_of("ml.q5.xlarge", "eu-west-1")
  expect_identical(price$usd_per_hour, 1.2345)
  expect_match(price$source, "AWS price list", fixed = TRUE)
  # Every region of the index when `regions = NULL`; nothing written without `path`.
  everything <- update_sagemaker_prices(regions = NULL, index_url = index_url, timeout = 10)
  expect_setequal(everything$region, c("eu-west-1", "us-east-1"))
})

test_that("without a network the refresh fails with a classed error, within its timeout", {
  # A port that accepts connections and never answers: a download waits for
  # it until the timeout.
  port <- NULL
  for (candidate in sample(20000:40000, 20)) {
    server <- tryCatch(serverSocket(candidate), error = function(e) NULL)
    if (!is.null(server)) {
      port <- candidate
      break
    }
  }
  skip_if(is.null(port), "no free port for a silent server")
  on.exit(close(server), add = TRUE)
  took <- system.time(error <- tryCatch(
    update_sagemaker_prices(index_url = sprintf("http://127.0.0.1:%d/region_index.json", port),
                            timeout = 2),
    error = identity))[["elapsed"]]
  expect_s3_class(error, "sagesim_prices_unavailable")
  expect_match(conditionMessage(error), "Could not read AWS's price list")
  # It waited for the timeout, and no longer.
  expect_gt(took, 1.5)
  expect_lt(took, 20)
  # A name that does not resolve (as AWS's price list does not from here).
  took <- system.time(error <- tryCatch(
    update_sagemaker_prices(index_url = "https://sagesim-price-list.invalid/region_index.json",
                            timeout = 5),
    error = identity))[["elapsed"]]
  expect_s3_class(error, "sagesim_prices_unavailable")
  expect_lt(took, 30)
  expect_error(update_sagemaker_prices(timeout = 0), class = "sagesim_invalid_argument")
  expect_error(update_sagemaker_prices(index_url = "ftp://x"), class = "sagesim_invalid_argument")
})
