#!/usr/bin/env bash
# Make sure the lab's container images exist, and say which ones to use.
#
#   compose/build-images.sh [auto|public|offline]     (default: $CHAOSKIT_LAB_IMAGES, else auto)
#
# public   postgres:15 and ghcr.io/shopify/toxiproxy:2.12.0 from their registries; the services
#          image built FROM python:3.11-slim with pip (compose/services/Dockerfile).
# offline  no registry needed: `debootstrap --variant=minbase bookworm` from the Debian mirror apt
#          already uses, `docker import`ed as chaoskit-lab/base:bookworm; on it, PostgreSQL 15 and
#          the services from Debian packages, and Toxiproxy from the toxiproxy-server on PATH.
# auto     offline images that are already built win (no network needed); else public when
#          `docker pull` works; else offline.
#
# Idempotent: each built image carries a label with the hash of its sources and is rebuilt only
# when they change; the debootstrap tarball is cached in $CHAOSKIT_LAB_CACHE
# (default ~/.cache/chaoskit-lab). Writes the chosen image names to $CHAOSKIT_LAB_IMAGES_ENV
# (default .chaoskit/lab/images.env), which compose/lab.yml reads through the environment.
# Every step prints one line: "ok: ..." when nothing had to be done, "building: ..." when it acts.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MODE=${1:-${CHAOSKIT_LAB_IMAGES:-auto}}
CACHE=${CHAOSKIT_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaoskit-lab}
IMAGES_ENV=${CHAOSKIT_LAB_IMAGES_ENV:-$ROOT/.chaoskit/lab/images.env}
LOG_DIR=$ROOT/.chaoskit/lab/logs
PULL_TIMEOUT=${CHAOSKIT_LAB_PULL_TIMEOUT:-120}

PUBLIC_POSTGRES=postgres:15
PUBLIC_TOXIPROXY=ghcr.io/shopify/toxiproxy:2.12.0
PUBLIC_PYTHON=python:3.11-slim

BASE=chaoskit-lab/base:bookworm
LOCAL_POSTGRES=chaoskit-lab/postgres:15
LOCAL_TOXIPROXY=chaoskit-lab/toxiproxy:local
SERVICES=chaoskit-lab/services:lab

HASH_LABEL=org.chaoskit.lab.source-hash
KIND_LABEL=org.chaoskit.lab.image

say() { printf '%s: %s\n' "$1" "$2"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command with its output in a log file; on failure show the log's tail.
quietly() {
    local name=$1
    shift
    mkdir -p "$LOG_DIR"
    local log=$LOG_DIR/build-$name.log
    if ! "$@" >"$log" 2>&1 </dev/null; then
        printf 'error: %s failed; last lines of %s:\n' "$*" "$log" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() { # image, label
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# sha256 over the base names and contents of the given files, in the order given.
hash_files() {
    local f
    for f in "$@"; do
        printf '%s\n' "${f##*/}"
        sha256sum <"$f"
    done | sha256sum | cut -c1-16
}

# Build IMAGE from DOCKERFILE in CONTEXT unless an image with the same source hash exists.
ensure_built() { # image, dockerfile, context, hash
    local image=$1 dockerfile=$2 context=$3 hash=$4
    if [[ $(image_label "$image" "$HASH_LABEL") == "$hash" ]]; then
        say ok "$image is current ($hash)"
        return 0
    fi
    say building "$image ($hash)"
    # --network host: the build's apt-get reaches the mirror exactly as the host's apt does.
    quietly "${image//[\/:]/_}" docker build --network host \
        --label "$HASH_LABEL=$hash" --label "$KIND_LABEL=1" \
        -t "$image" -f "$dockerfile" "$context"
    # The image this one replaced is now untagged: remove it (only ours, by label).
    docker image prune -f --filter "label=$KIND_LABEL" >/dev/null 2>&1 || true
    say ok "$image built"
}

# --- offline ------------------------------------------------------------------------------

# The Debian mirror apt uses here (deb822 .sources first, then sources.list), for a suite.
apt_mirror() { # suite-substring, fallback
    local uri
    uri=$(
        awk -v want="$1" '
            /^URIs:/ { uris = $2 }
            /^Suites:/ { if (index($0, want)) { print uris; exit } }
        ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    )
    if [[ -z $uri && -f /etc/apt/sources.list ]]; then
        uri=$(awk -v want="$1" '$1 == "deb" && index($3, want) { print $2; exit }' \
            /etc/apt/sources.list)
    fi
    printf '%s\n' "${uri:-$2}"
}

ensure_base() {
    if have_image "$BASE"; then
        say ok "$BASE present"
        return 0
    fi
    local tarball=$CACHE/bookworm-minbase.tar
    if [[ ! -s $tarball ]]; then
        command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] ||
            die "debootstrap is missing (./dev setup installs it)"
        ((EUID == 0)) || die "debootstrap needs root"
        local mirror security
        mirror=${CHAOSKIT_LAB_DEBIAN_MIRROR:-$(apt_mirror bookworm http://deb.debian.org/debian)}
        security=${CHAOSKIT_LAB_DEBIAN_SECURITY_MIRROR:-$(apt_mirror bookworm-security \
            http://deb.debian.org/debian-security)}
        say building "bookworm minbase with debootstrap from $mirror (cached in $CACHE)"
        mkdir -p "$CACHE"
        local root
        root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
        # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
        trap "rm -rf '$root'" EXIT
        quietly debootstrap env PATH="/usr/sbin:/sbin:$PATH" \
            debootstrap --variant=minbase bookworm "$root" "$mirror"
        cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
            >"$root/etc/apt/apt.conf.d/90chaoskit-lab"
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
        mv -f "$tarball.tmp" "$tarball"
        rm -rf "$root"
        trap - EXIT
    else
        say ok "bookworm minbase tarball cached ($tarball)"
    fi
    quietly docker-import docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        "$tarball" "$BASE"
    say ok "$BASE imported"
}

build_offline() {
    ensure_base
    local base_id
    base_id=$(docker image inspect -f '{{.Id}}' "$BASE")

    ensure_built "$LOCAL_POSTGRES" "$HERE/images/postgres/Dockerfile" "$HERE/images/postgres" \
        "$(printf '%s %s' "$base_id" "$(hash_files "$HERE"/images/postgres/*)" | sha256sum | cut -c1-16)"

    local toxiproxy
    toxiproxy=$(command -v toxiproxy-server) ||
        die "toxiproxy-server is not on PATH (./dev setup installs it)"
    local context
    context=$(mktemp -d)
    cp "$HERE/images/toxiproxy/Dockerfile" "$context/"
    cp "$toxiproxy" "$context/toxiproxy-server"
    ensure_built "$LOCAL_TOXIPROXY" "$context/Dockerfile" "$context" \
        "$(printf '%s %s' "$base_id" "$(hash_files "$context/Dockerfile" "$context/toxiproxy-server")" |
            sha256sum | cut -c1-16)" || {
        rm -rf "$context"
        return 1
    }
    rm -rf "$context"

    local hash
    hash=$(printf '%s %s' "$base_id" "$(services_hash Dockerfile.offline offline-overlay.txt)" |
        sha256sum | cut -c1-16)
    if [[ $(image_label "$SERVICES" "$HASH_LABEL") == "$hash" ]]; then
        say ok "$SERVICES is current ($hash)"
    else
        context=$(mktemp -d)
        cp "$HERE"/services/* "$context/"
        python_overlay "$context/python-overlay" &&
            ensure_built "$SERVICES" "$context/Dockerfile.offline" "$context" "$hash" || {
            rm -rf "$context"
            return 1
        }
        rm -rf "$context"
    fi

    write_env "$LOCAL_POSTGRES" "$LOCAL_TOXIPROXY" "$SERVICES" offline
}

# The pure-Python packages of services/offline-overlay.txt, installed into DEST (a flat
# site-packages tree). Fetched once from the package index into $CACHE, then copied from there.
python_overlay() { # dest
    local list=$HERE/services/offline-overlay.txt
    local cached
    cached=$CACHE/python-overlay-$(hash_files "$list")
    if [[ -d $cached ]]; then
        say ok "python packages of ${list##*/} cached ($cached)"
    else
        say building "python packages of ${list##*/} into $cached"
        mkdir -p "$CACHE"
        local tmp
        tmp=$(mktemp -d "$CACHE/python-overlay.XXXXXX")
        # Pure-Python wheels only (they run on Debian's python3.11 whatever built them).
        if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
            quietly python-overlay uv pip install --no-deps --only-binary :all: \
                --python-version 3.11 --target "$tmp" -r "$list" || {
                rm -rf "$tmp"
                return 1
            }
        else
            quietly python-overlay python3 -m pip install --no-deps --only-binary=:all: \
                --no-compile --target "$tmp" -r "$list" || {
                rm -rf "$tmp"
                return 1
            }
        fi
        mv "$tmp" "$cached"
    fi
    cp -r "$cached" "$1"
}

services_hash() { # dockerfile name, extra files of services/
    local files=("$HERE/services/$1" "$HERE/services/requirements.txt")
    shift
    local extra
    for extra in "$@"; do files+=("$HERE/services/$extra"); done
    local f
    for f in "$HERE"/services/*.py; do files+=("$f"); done
    hash_files "${files[@]}"
}

# --- public -------------------------------------------------------------------------------

pull() { # image
    if have_image "$1"; then
        say ok "$1 present"
        return 0
    fi
    say pulling "$1"
    quietly "pull-${1//[\/:]/_}" timeout "$PULL_TIMEOUT" docker pull "$1"
}

build_public() {
    pull "$PUBLIC_POSTGRES"
    pull "$PUBLIC_TOXIPROXY"
    pull "$PUBLIC_PYTHON"
    local python_id
    python_id=$(docker image inspect -f '{{.Id}}' "$PUBLIC_PYTHON")
    ensure_built "$SERVICES" "$HERE/services/Dockerfile" "$HERE/services" \
        "$(printf '%s %s' "$python_id" "$(services_hash Dockerfile)" | sha256sum | cut -c1-16)"
    write_env "$PUBLIC_POSTGRES" "$PUBLIC_TOXIPROXY" "$SERVICES" public
}

registry_answers() {
    have_image "$PUBLIC_POSTGRES" && return 0
    timeout "$PULL_TIMEOUT" docker pull -q "$PUBLIC_POSTGRES" >/dev/null 2>&1
}

write_env() { # postgres, toxiproxy, services, mode
    mkdir -p "$(dirname "$IMAGES_ENV")"
    cat >"$IMAGES_ENV.tmp" <<ENV
CHAOSKIT_LAB_POSTGRES_IMAGE=$1
CHAOSKIT_LAB_TOXIPROXY_IMAGE=$2
CHAOSKIT_LAB_SERVICES_IMAGE=$3
CHAOSKIT_LAB_IMAGES=$4
ENV
    mv -f "$IMAGES_ENV.tmp" "$IMAGES_ENV"
    say ok "images: $4 ($IMAGES_ENV)"
}

main() {
    command -v docker >/dev/null 2>&1 || die "no docker client on PATH"
    timeout 20 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info)"
    case $MODE in
        public) build_public ;;
        offline) build_offline ;;
        auto)
            if have_image "$LOCAL_POSTGRES" && have_image "$LOCAL_TOXIPROXY" && have_image "$BASE"; then
                build_offline
            elif registry_answers; then
                build_public
            else
                say ok "no registry answers: building offline images"
                build_offline
            fi
            ;;
        *) die "unknown mode '$MODE' (expected auto, public or offline)" ;;
    esac
}

main
