# A static oomtrace in an image with nothing else: no shell, no package
# manager. The BPF objects are committed, so the build needs no clang.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(git describe --tags --always 2>/dev/null || echo container)" -o /oomtrace ./cmd/oomtrace

FROM scratch
COPY --from=build /oomtrace /oomtrace
ENTRYPOINT ["/oomtrace"]
CMD ["serve"]
