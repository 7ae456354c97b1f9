# What SageMaker Processing instance-hours cost: the price table (shipped
# in inst/prices, or the user's through an option), looking a price up, and
# refreshing the table from AWS's public bulk price list.

price_columns <- c("instance_type", "region", "usd_per_hour", "vcpu", "memory_gib", "source",
                   "date")

#' SageMaker Processing prices
#'
#' The on-demand price of an instance-hour of each Processing instance type
#' in each region, as sagesim uses it to cost jobs ([job_cost()]) and to
#' estimate them (`submit_processing(estimate = TRUE)`).
#'
#' * **Shipped table.** `inst/prices/sagemaker-processing.csv`, dated, each
#'   row naming the public source every one of its numbers was read from.
#'   It is small (the AWS price list could not be reached where it was
#'   compiled): an instance type or region it lacks is "price unknown", never
#'   guessed; instance-hours are still shown.
#' * **Your own.** `options(sagesim.prices = )` replaces the table: a
#'   data.frame or the path of a CSV file with the columns `instance_type`,
#'   `region`, `usd_per_hour`, `vcpu`, `memory_gib`, `source` and `date`
#'   (lines starting with `#` are comments), for instance what
#'   `update_sagemaker_prices()` returns or writes.
#' * **Refresh.** `update_sagemaker_prices()` reads AWS's public bulk price
#'   list (no credentials needed): the AmazonSageMaker offer's region index,
#'   then each region's offer file, keeping the products whose usage type is
#'   `<region prefix>-Processing:ml.<type>` (component `Processing`; Data
#'   Wrangler's and geospatial processing are other usage types) and their
#'   on-demand price per hour (`Hrs`) in USD. The files are large (tens of
#'   MB per region); a network that does not answer within `timeout` seconds
#'   is a `sagesim_prices_unavailable` error.
#'
#' @return `sagemaker_prices()`: the table in use, a data.frame.
#'   `update_sagemaker_prices()`: the new table (invisibly when written to
#'   `path`).
#' @examples
#' sagemaker_prices()[, c("instance_type", "region", "usd_per_hour", "date")]
#' # Your own prices, e.g. a negotiated rate:
#' mine <- data.frame(instance_type = "ml.c5.xlarge", region = "eu-west-1",
#'                    usd_per_hour = 0.2, vcpu = 4, memory_gib = 8,
#'                    source = "our contract", date = "2026-01-01")
#' old <- options(sagesim.prices = mine)
#' sagemaker_prices()
#' options(old)
#' \dontrun{
#' # Where the network allows: every Processing price of two regions.
#' path <- file.path(tools::R_user_dir("sagesim", "data"), "prices.csv")
#' update_sagemaker_prices(path, regions = c("us-east-1", "eu-west-1"))
#' options(sagesim.prices = path)
#' }
#' @name sagemaker_prices
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
sagemaker_prices <- function(...) {
  check_unknown_arguments("sagemaker_prices", ...)
  option <- getOption("sagesim.prices")
  if (is.null(option)) return(shipped_prices())
  if (is.data.frame(option)) return(check_price_table(option, "options(sagesim.prices = )"))
  if (is.character(option) && length(option) == 1 && !is.na(option)) {
    return(read_price_file(option, sprintf("the price table %s (options(sagesim.prices = ))", option)))
  }
  abort_argument("sagesim.prices", sprintf(
    "options(sagesim.prices = ) must be a data.frame or the path of a CSV file, not %s.",
    describe_type(option)))
}

price_cache <- new.env(parent = emptyenv())

shipped_prices_file <- function() {
  system.file("prices", "sagemaker-processing.csv", package = "sagesim", mustWork = TRUE)
}

shipped_prices <- function() {
  if (is.null(price_cache$shipped)) {
    price_cache$shipped <- read_price_file(shipped_prices_file(), "the shipped price table")
  }
  price_cache$shipped
}

read_price_file <- function(path, what) {
  if (!file.exists(path)) {
    abort_argument("sagesim.prices", sprintf("%s does not exist.", what))
  }
  table <- tryCatch(
    utils::read.csv(path, comment.char = "#", colClasses = "character", na.strings = "",
                    check.names = FALSE),
    error = function(e) abort_argument("sagesim.prices", sprintf(
      "%s could not be read as CSV: %s", what, conditionMessage(e))))
  check_price_table(table, what)
}

# A price table with the columns and types sagesim relies on: prices are
# numbers >= 0, vCPUs and memory numbers or NA, one row per type and region.
check_price_table <- function(table, what) {
  missing <- setdiff(price_columns, names(table))
  if (length(missing) > 0) {
    abort_argument("sagesim.prices", sprintf("%s lacks the column%s %s (it needs %s).", what,
                                             if (length(missing) > 1) "s" else "",
                                             paste(missing, collapse = ", "),
                                             paste(price_columns, collapse = ", ")))
  }
  table <- as.data.frame(table, stringsAsFactors = FALSE)[price_columns]
  number <- function(column, required) {
    values <- suppressWarnings(as.numeric(as.character(table[[column]])))
    given <- !is.na(table[[column]]) & nzchar(trimws(as.character(table[[column]])))
    bad <- (given & (is.na(values) | values < 0)) | (required & !given)
    if (any(bad)) {
      abort_argument("sagesim.prices", sprintf(
        "%s: `%s` must be %s, not \"%s\" (row %d).", what, column,
        if (required) "a number >= 0 in every row" else "a number >= 0 or empty",
        table[[column]][bad][[1]], which(bad)[[1]]))
    }
    values
  }
  table$usd_per_hour <- number("usd_per_hour", TRUE)
  table$vcpu <- number("vcpu", FALSE)
  table$memory_gib <- number("memory_gib", FALSE)
  for (column in c("instance_type", "region", "source", "date")) {
    table[[column]] <- as.character(table[[column]])
  }
  key <- paste(table$instance_type, table$region)
  if (anyDuplicated(key)) {
    abort_argument("sagesim.prices", sprintf("%s has two rows for %s.", what,
                                             key[duplicated(key)][[1]]))
  }
  rownames(table) <- NULL
  table
}

# The price of an instance-hour of `instance_type` in `region` (NA when the
# table has none), and the type's vCPUs and memory (from any region: the
# hardware does not change with the region).
price_of <- function(instance_type, region, prices = sagemaker_prices()) {
  of_type <- prices[prices$instance_type %in% instance_type, , drop = FALSE]
  row <- of_type[of_type$region %in% region, , drop = FALSE]
  first_known <- function(values) {
    values <- values[!is.na(values)]
    if (length(values) > 0) values[[1]] else NA_real_
  }
  vcpu <- if (nrow(row) > 0 && !is.na(row$vcpu)) row$vcpu else first_known(of_type$vcpu)
  memory <- if (nrow(row) > 0 && !is.na(row$memory_gib)) row$memory_gib else
    first_known(of_type$memory_gib)
  list(instance_type = instance_type, region = region %||% NA_character_,
       known = nrow(row) > 0,
       usd_per_hour = if (nrow(row) > 0) row$usd_per_hour else NA_real_,
       vcpu = vcpu, memory_gib = memory,
       source = if (nrow(row) > 0) row$source else NA_character_,
       date = if (nrow(row) > 0) row$date else NA_character_)
}

# Why a price is unknown, in words.
price_unknown_reason <- function(price) {
  if (is.na(price$region)) {
    return(sprintf("price unknown: the region of %s is not known", price$instance_type))
  }
  sprintf("price unknown for %s in %s (not in the price table; see ?sagemaker_prices)",
          price$instance_type, price$region)
}

# --- refreshing from AWS's public price list ----------------------------------

price_list_index <- "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/region_index.json"

# The regions the shipped table is meant to cover, refreshed by default.
main_regions <- c("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
                  "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1", "ap-south-1",
                  "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2",
                  "sa-east-1")

#' @rdname sagemaker_prices
#' @param path Where to write the new table as CSV (a file `options(sagesim.prices
#'   = )` can name); `NULL` only returns it.
#' @param regions Region codes to read; `NULL` for every region of the price
#'   list. Regions the price list does not have are skipped with a warning.
#' @param index_url The AmazonSageMaker offer's region index; offer files are
#'   read from the same host.
#' @param timeout Seconds any one download may take before giving up.
#' @export
update_sagemaker_prices <- function(path = NULL, regions = main_regions,
                                    index_url = getOption("sagesim.price_list_url", price_list_index),
                                    timeout = 600, ...) {
  check_unknown_arguments("update_sagemaker_prices", ...)
  check_string(path, "path", null_ok = TRUE)
  check_strings(regions, "regions")
  check_string(index_url, "index_url", pattern = "^(https?|file)://",
               expected = "an http://, https:// or file:// URL")
  check_number(timeout, "timeout", min = 1, max = 86400)
  index <- download_json(index_url, timeout)
  listed <- names(index$regions)
  wanted <- if (is.null(regions)) listed else regions
  absent <- setdiff(wanted, listed)
  if (length(absent) > 0) {
    warning(sprintf("The price list has no SageMaker offer for %s; skipped.",
                    paste(absent, collapse = ", ")), call. = FALSE)
  }
  rows <- lapply(intersect(wanted, listed), function(region) {
    offer_url <- url_on_host(index_url, index$regions[[region]]$currentVersionUrl)
    parse_offer_prices(download_json(offer_url, timeout), offer_url)
  })
  table <- do.call(rbind, c(list(empty_price_table()), rows))
  table <- table[order(table$region, table$instance_type), , drop = FALSE]
  table <- check_price_table(table, "the price list")
  if (is.null(path)) return(table)
  write_price_table(table, path, index_url)
  invisible(table)
}

empty_price_table <- function() {
  data.frame(instance_type = character(), region = character(), usd_per_hour = numeric(),
             vcpu = numeric(), memory_gib = numeric(), source = character(), date = character(),
             stringsAsFactors = FALSE)
}

# The Processing instance-hours of one region's AmazonSageMaker offer file
# (parsed JSON): products whose usage type is `<prefix>-Processing:ml.<type>`
# (component "Processing" where the product says), outside Outposts, with
# one on-demand price per hour in USD.
parse_offer_prices <- function(offer, url = "the offer file") {
  if (!is.list(offer) || !is.list(offer$products)) {
    abort(sprintf("%s is not an AWS offer file: it has no products.", url),
          class = "sagesim_prices_unavailable")
  }
  on_demand <- offer$terms$OnDemand %||% list()
  date <- substr(offer$publicationDate %||% NA_character_, 1, 10)
  rows <- list()
  for (sku in names(offer$products)) {
    attributes <- offer$products[[sku]]$attributes %||% list()
    usage <- attributes$usagetype %||% ""
    if (!grepl("^[A-Za-z0-9]+-Processing:ml\\.[a-z0-9.-]+$", usage)) next
    if (!is.null(attributes$component) && !identical(attributes$component, "Processing")) next
    if (grepl("Outposts", attributes$locationType %||% "", fixed = TRUE)) next
    prices <- unique(unlist(lapply(on_demand[[sku]], function(term) {
      lapply(term$priceDimensions, function(dimension) {
        if (identical(dimension$unit, "Hrs") && !is.null(dimension$pricePerUnit$USD)) {
          as.numeric(dimension$pricePerUnit$USD)
        }
      })
    })))
    if (length(prices) != 1 || is.na(prices)) next
    memory <- suppressWarnings(as.numeric(sub("^\\s*([0-9.,]+)\\s*GiB\\s*$", "\\1",
                                              gsub(",", "", attributes$memory %||% ""))))
    rows[[length(rows) + 1]] <- data.frame(
      instance_type = sub("^.*:", "", usage), region = attributes$regionCode %||% NA_character_,
      usd_per_hour = prices, vcpu = suppressWarnings(as.numeric(attributes$vCpu %||% NA)),
      memory_gib = memory,
      source = sprintf("AWS price list, AmazonSageMaker offer %s (%s), sku %s, usage type %s",
                       offer$version %||% "?", url, sku, usage),
      date = date, stringsAsFactors = FALSE)
  }
  do.call(rbind, c(list(empty_price_table()), rows))
}

# `path` (a URL path such as /offers/...) on the scheme and host of `url`.
url_on_host <- function(url, path) {
  if (is.null(path) || !nzchar(path)) {
    abort(sprintf("The price list's region index (%s) gives no offer file for a region.", url),
          class = "sagesim_prices_unavailable")
  }
  if (grepl("^[a-z]+://", path)) return(path)
  origin <- if (startsWith(url, "file://")) {
    sub("/offers/.*$", "", url)
  } else {
    sub("^([a-z]+://[^/]+).*$", "\\1", url)
  }
  paste0(origin, path)
}

# Downloads and parses a JSON file, giving up after `timeout` seconds.
download_json <- function(url, timeout) {
  target <- tempfile("sagesim-prices-", fileext = ".json")
  on.exit(unlink(target), add = TRUE)
  old <- options(timeout = timeout)
  on.exit(options(old), add = TRUE)
  failed <- function(why) {
    abort(c(sprintf("Could not read AWS's price list at %s: %s", url, why),
            "Prices can be given instead with options(sagesim.prices = ) (see ?sagemaker_prices)."),
          class = "sagesim_prices_unavailable", url = url)
  }
  # (download.file() says why in a warning, then fails saying only that it could not.)
  why <- character()
  status <- tryCatch(
    withCallingHandlers(
      utils::download.file(url, target, quiet = TRUE, mode = "wb", method = "libcurl"),
      warning = function(w) {
        why <<- c(why, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    error = function(e) failed(paste(c(why, conditionMessage(e)), collapse = "; ")))
  if (!identical(as.integer(status), 0L) || !file.exists(target)) {
    failed(sprintf("the download ended with status %s", status))
  }
  tryCatch(jsonlite::fromJSON(target, simplifyVector = FALSE),
           error = function(e) failed(sprintf("it is not JSON (%s)", conditionMessage(e))))
}

write_price_table <- function(table, path, index_url) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  header <- c(
    "# On-demand prices of Amazon SageMaker Processing instance-hours, in USD.",
    sprintf("# Read %s from AWS's public price list, %s, by sagesim::update_sagemaker_prices().",
            format(Sys.Date()), index_url),
    "# Use it with options(sagesim.prices = <this file>).")
  connection <- file(path, "w", encoding = "UTF-8")
  on.exit(close(connection), add = TRUE)
  writeLines(header, connection)
  utils::write.csv(table, connection, row.names = FALSE, na = "")
  invisible(path)
}
