# Scalescope dashboard image: `streamlit run app.py` on port 8501, the run store on /data.
#
#   docker build -t scalescope .
#   docker run -d -p 8501:8501 -v scalescope-data:/data --name scalescope scalescope
#
# First start creates /data/scalescope.duckdb and loads the bundled datasets; the named volume
# keeps uploads across restarts and upgrades (docs/DEPLOY.md: upgrades, backups, sign-in).
FROM python:3.11-slim-bookworm

# Debian's Chromium renders the PNG/SVG chart exports (kaleido drives it over a pipe; nothing is
# downloaded at run time). fonts-liberation gives the charts' text a font (a Recommends of
# chromium, which --no-install-recommends would otherwise leave out).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# SCALESCOPE_STORE: the store lives on the volume, never in the image. Team mode (a
# "ducklake:postgres:..." SCALESCOPE_STORE, docs/DEPLOY.md) writes its Parquet files under
# SCALESCOPE_LAKE_DATA (on the volume too) and installs DuckDB's extensions from the pinned wheels
# into SCALESCOPE_EXTENSION_DIR, which must be writable by the app's user (/app is not).
# BROWSER_PATH: the browser kaleido/choreographer (and scaling_core.export) use.
# File watcher off: the code in the image never changes, and watching costs CPU and would reload
# modules if it did. Headless mode and the rest of Streamlit's settings: .streamlit/config.toml.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SCALESCOPE_STORE=/data/scalescope.duckdb \
    SCALESCOPE_LAKE_DATA=/data/lake/ \
    SCALESCOPE_EXTENSION_DIR=/home/scalescope/.duckdb_extensions \
    BROWSER_PATH=/usr/bin/chromium \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

# A fixed non-root uid, so a bind-mounted /data can be chowned to it on the host (10001).
RUN groupadd --gid 10001 scalescope \
    && useradd --uid 10001 --gid scalescope --create-home --shell /usr/sbin/nologin scalescope \
    && mkdir /data \
    && chown scalescope:scalescope /data

WORKDIR /app

# Dependencies first (pinned): this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The app: entry point, pages, the core, the bundled datasets and Streamlit's settings. No
# secrets: .streamlit/secrets.toml is mounted at run time (see docs/DEPLOY.md).
COPY .streamlit/config.toml .streamlit/config.toml
COPY app.py ./
COPY pages/ pages/
COPY scaling_core/ scaling_core/
COPY data/ data/

USER scalescope
VOLUME /data
EXPOSE 8501

# Streamlit answers "ok" on /_stcore/health once the server is up (slim images have no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
