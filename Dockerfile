# syntax=docker/dockerfile:1
# lbprovider controller image: non-root, no build tools, only the cloud SDKs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lbprovider ./lbprovider
COPY providers ./providers
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[aws,alibaba,tencent]'

FROM python:3.11-slim
# The wheels are bind-mounted, not copied, so they add nothing to the image.  Installing
# every wheel by path pins the exact set the build stage resolved (hadolint DL3013).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
# 65532 is the conventional "nonroot" user; the config and credentials are mounted read-only.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["lbprovider", "run", "--config", "/etc/lbprovider/lbprovider.yaml", "--log-format", "json"]
