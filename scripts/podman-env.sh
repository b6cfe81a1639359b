# Sourced by scripts/image.sh and scripts/image-smoke.sh: installs podman, buildah and runc
# through apt-get when missing, and points podman at a containers.conf that works where the
# default crun runtime and ulimits do not (CI sandboxes). A CONTAINERS_CONF set by the caller
# is kept as it is.

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
    _sudo=""
    [ "$(id -u)" -eq 0 ] || _sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq podman buildah runc >/dev/null
    unset _sudo
fi

if [ -z "${CONTAINERS_CONF:-}" ]; then
    mkdir -p target/podman
    # Giving one ulimit replaces all the defaults, so both are set.
    cat >target/podman/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
    export CONTAINERS_CONF="$PWD/target/podman/containers.conf"
fi
