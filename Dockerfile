# certflow's image, for those who build with Docker:
#   docker build --build-arg COMMIT=$(git rev-parse HEAD) -t certflow:v0.1.0 .
# `make image` builds the same layout without a Docker daemon, reproducibly
# (the commit's time on every file), and is the build the tests check; this
# file cannot be tested where certflow is developed (no Docker engine there).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION empty keeps the release in cmd/certflow/version.go.
ARG VERSION=
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w ${VERSION:+-X main.version=$VERSION} ${COMMIT:+-X main.commit=$COMMIT}" \
      -o /out/certflow ./cmd/certflow

# distroless static: CA certificates, /etc/passwd with nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/certflow /usr/local/bin/certflow
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/certflow"]
