# Lotse: the HTTP API, and with `lotse projector` the read-model projector.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The whole build context, as .dockerignore filters it: which packages make up Lotse
# is said once, in pyproject.toml, not again here (a hand-kept COPY list once left
# out a package, and every lotse command in the image died on start).
COPY . /src
# A regular (not editable) install: the image needs no build tools at run time.
RUN pip install /src && rm -rf /src

# Programmes and organisations are data, validated at start; LOTSE_CONFIG may point
# to a mounted directory instead.
COPY config/ config/
ENV LOTSE_CONFIG=/app/config

# Never as root: the process only reads its code and configuration, and all state
# lives in PostgreSQL.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lotse
USER lotse

EXPOSE 8000
CMD ["lotse", "serve", "--host", "0.0.0.0", "--port", "8000"]
