# Entry points; each is one command. See README.md ("Installing").
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sagesim/cargo-target
export PATH := $(PATH):$(HOME)/.cargo/bin

.PHONY: setup setup-r install demo test dist site check-dist check-container check-bare bench docs authors future-tests

setup:            ## install what is missing (apt, pip; root or sudo): R, its packages, moto, container tools
	sh tools/setup.sh all

setup-r:          ## install R and its packages where missing
	sh tools/setup.sh r

install:          ## build the Rust core and install the R package from this checkout
	sh tools/setup.sh --check r
	R CMD INSTALL --no-docs .

demo: install     ## the reference workload as a two-host local job
	Rscript tools/demo.R

test:             ## cargo tests, then R CMD check --as-cran of the source tarball with testthat
	sh tools/setup.sh --check test
	sh tools/test.sh

dist:             ## dist/: the source tarball (crates vendored, vignettes built, builds offline) and the binary package
	sh tools/setup.sh --check dist
	sh tools/dist.sh

site:             ## docs/: the reference site (pkgdown, offline) with the vignettes as articles; its links checked
	sh tools/setup.sh --check site
	sh tools/site.sh

check-dist:       ## install dist/'s tarball with no network and an empty CARGO_HOME (root or bwrap)
	sh tools/check-dist.sh

check-container: ## build the worker image (podman) and run the job contract in it
	sh tools/container/check.sh

check-bare:       ## a bare Debian bookworm root (no R): make setup once, then make demo (root)
	bash tools/check-bare.sh

bench: install    ## speed and memory of simulate_local() against plain R; map overhead
	Rscript bench/bench.R
	Rscript bench/map.R

future-tests: install ## the futureverse's conformance suite (future.tests, if installed) on plan(sagesim::sagemaker)
	Rscript tools/future-tests.R

authors:          ## regenerate inst/AUTHORS from src/rust/Cargo.lock
	Rscript tools/authors.R

docs:             ## regenerate NAMESPACE and man/ from the roxygen comments
	R CMD INSTALL --no-docs . && Rscript -e 'roxygen2::roxygenise(load_code = roxygen2::load_installed)'
