# parcelstream: one image, one entry point (`parcelstream`) with the sub-commands worker, sink,
# webhook, import, topics, migrate, and api (the lookup API) where the package has it.
#   docker build -t parcelstream .
#   docker run --rm parcelstream worker | sink | webhook | topics | migrate | api
# Built from the package's wheel; the development tools (simulator, bench, demo) are not in it.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY connectors connectors
COPY tracking tracking
COPY pipeline pipeline
# The wheel, and wheels of every dependency, so the runtime stage installs offline.
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/parcelstream-*.whl

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG PYTHON_VERSION
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/parcelstream/bin:$PATH \
    PARCELSTREAM_STATE_DIR=/var/lib/parcelstream \
    PARCELSTREAM_WEB_HOST=0.0.0.0 \
    PARCELSTREAM_WEBHOOK_HOST=0.0.0.0
RUN groupadd --system --gid 10001 parcelstream \
 && useradd --system --uid 10001 --gid parcelstream --no-create-home \
      --home-dir /var/lib/parcelstream --shell /usr/sbin/nologin parcelstream \
 && install -d -o parcelstream -g parcelstream /var/lib/parcelstream
COPY --from=build /wheels /wheels
RUN python -m venv /opt/parcelstream \
 && /opt/parcelstream/bin/pip install --no-cache-dir --no-index --find-links=/wheels \
      /wheels/parcelstream-*.whl \
 && rm -rf /wheels
# The Avro schemas are read from beside the packages (pipeline/codec.py: SCHEMAS_DIR).
COPY schemas /opt/parcelstream/lib/python${PYTHON_VERSION}/site-packages/schemas
USER 10001:10001
WORKDIR /var/lib/parcelstream
# 6066 worker web (/health, /metrics), 6067 sink /metrics, 8080 webhook
EXPOSE 6066 6067 8080
ENTRYPOINT ["parcelstream"]
CMD ["worker"]
