# NST Lab maintenance targets. `make check` is what CI runs after installing (.ci/run).
PYTHON ?= python3
NBSTRIPOUT_EXTRAKEYS = metadata.papermill cell.metadata.papermill metadata.colab.provenance

.PHONY: test lint format check notebooks nbstripout docs

# The test suite (the README's test command without the install).
test:
	$(PYTHON) -m pytest -q

# Lint, formatting, types and the generated notebooks, without changing anything.
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy nstlib
	$(PYTHON) notebooks/build.py --check

# Fix what ruff can fix and format the code.
format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

check: lint test

# Regenerate notebooks/*.ipynb from notebooks/build.py (parameters cell from nstlib.Config).
notebooks:
	$(PYTHON) notebooks/build.py

# Strip outputs (and papermill/Colab metadata) from *.ipynb on `git add`, via nbstripout's git filter.
nbstripout:
	git config filter.nbstripout.clean "$(PYTHON) -m nbstripout"
	git config filter.nbstripout.smudge cat
	git config filter.nbstripout.required true
	git config filter.nbstripout.extrakeys "$(NBSTRIPOUT_EXTRAKEYS)"
	@grep -qxF '*.ipynb filter=nbstripout' .gitattributes 2>/dev/null || echo '*.ipynb filter=nbstripout' >> .gitattributes
	@echo "nbstripout filter configured for *.ipynb (.gitattributes)"

# Build the documentation site into site/ (CI builds it with --strict too).
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict
