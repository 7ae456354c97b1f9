# Entry points; each is one command. See README.md.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sagesim/cargo-target
export PATH := $(PATH):$(HOME)/.cargo/bin

.PHONY: setup setup-r install demo test check-container bench docs authors future-tests

setup:            ## install R, its packages and (for the tests) moto where missing
	sh tools/setup.sh all

setup-r:          ## install R and its packages where missing
	sh tools/setup.sh r

install: setup-r  ## build the Rust core and install the R package
	R CMD INSTALL --no-docs .

demo: install     ## the reference workload as a two-host local job
	Rscript tools/demo.R

test: setup       ## cargo tests, then R CMD check with testthat
	sh tools/test.sh

check-container: ## build the worker image (podman) and run the job contract in it
	sh tools/container/check.sh

bench: install    ## speed and memory of simulate_local() against plain R; map overhead
	Rscript bench/bench.R
	Rscript bench/map.R

future-tests: install ## the futureverse's conformance suite (future.tests, if installed) on plan(sagesim::sagemaker)
	Rscript tools/future-tests.R

authors:          ## regenerate inst/AUTHORS from src/rust/Cargo.lock
	Rscript tools/authors.R

docs:             ## regenerate NAMESPACE and man/ from the roxygen comments
	R CMD INSTALL --no-docs . && Rscript -e 'roxygen2::roxygenise(load_code = roxygen2::load_installed)'
