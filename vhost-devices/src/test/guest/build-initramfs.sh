#!/bin/bash
# Builds the tiny test guest of vhost-devices: a gzip'ed newc initramfs holding busybox-static, the installed
# Debian kernel's virtio modules (virtio_pci, virtio_blk and what they depend on) and an /init that exercises
# /dev/vda and prints one "VHT: key=value" line per result on the serial console, then powers off.
#
# Usage: build-initramfs.sh OUTPUT.cpio.gz [KERNEL_VERSION]
#   KERNEL_VERSION defaults to the newest directory under /lib/modules that has a /boot/vmlinuz-KVER.
# Needs: busybox (static), cpio, gzip, modprobe (kmod). The output is reproducible for the same inputs.
#
# Kernel command line parameters read by /init (unknown "key=value" parameters reach /init's environment):
#   vht_pattern=STRING   written at byte offset 1 MiB of /dev/vda with O_DIRECT, then read back
#   vht_read_mib=N       size of the O_DIRECT sequential read (default 64)
set -euo pipefail

out=${1:?usage: build-initramfs.sh OUTPUT.cpio.gz [KERNEL_VERSION]}
kver=${2:-}
if [[ -z $kver ]]; then
    for dir in $(ls -1 /lib/modules | sort -V -r); do
        if [[ -e /boot/vmlinuz-$dir ]]; then kver=$dir; break; fi
    done
fi
[[ -n $kver && -d /lib/modules/$kver ]] || { echo "build-initramfs: no kernel modules found under /lib/modules (install linux-image-amd64)" >&2; exit 2; }
busybox_bin=$(command -v busybox || true)
[[ -n $busybox_bin ]] || { echo "build-initramfs: busybox not found (install busybox-static)" >&2; exit 2; }
if ! file -L "$busybox_bin" 2>/dev/null | grep -q 'statically linked'; then
    if ldd "$busybox_bin" >/dev/null 2>&1; then
        echo "build-initramfs: $busybox_bin is dynamically linked; install busybox-static" >&2; exit 2
    fi
fi
for tool in cpio gzip modprobe; do
    command -v $tool >/dev/null || { echo "build-initramfs: $tool not found" >&2; exit 2; }
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/vht-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$busybox_bin" "$stage/bin/busybox"

# Modules in dependency order, each once. Compressed modules are unpacked: busybox insmod takes plain .ko files.
: > "$stage/etc/modules"
declare -A seen=()
for module in virtio_pci virtio_blk; do
    while read -r verb path _; do
        [[ $verb == insmod ]] || continue
        name=$(basename "$path")
        [[ -z ${seen[$name]:-} ]] || continue
        seen[$name]=1
        case $name in
            *.ko) cp "$path" "$stage/lib/modules/$name"; plain=$name ;;
            *.ko.xz) plain=${name%.xz}; xz -dc "$path" > "$stage/lib/modules/$plain" ;;
            *.ko.zst) plain=${name%.zst}; zstd -qdc "$path" > "$stage/lib/modules/$plain" ;;
            *.ko.gz) plain=${name%.gz}; gzip -dc "$path" > "$stage/lib/modules/$plain" ;;
            *) echo "build-initramfs: unexpected module file $path" >&2; exit 2 ;;
        esac
        echo "$plain" >> "$stage/etc/modules"
    done < <(modprobe -S "$kver" --show-depends "$module")
done

cat > "$stage/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
say() { echo "VHT: $*"; }
uptime_ms() { read up _ < /proc/uptime; echo "${up%.*}${up#*.}0"; }
say boot_ms=$(uptime_ms)
while read -r m; do
    insmod "/lib/modules/$m" || say "error=insmod $m failed"
done < /etc/modules
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
if [ ! -b /dev/vda ]; then
    say "error=no /dev/vda after 10 s"
else
    say size_sectors=$(cat /sys/block/vda/size)
    say read_only=$(cat /sys/block/vda/ro)
    say num_queues=$(ls /sys/block/vda/mq | wc -l)
    say features=$(cat /sys/block/vda/device/features)
    say md5_sector0=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
    pattern=${vht_pattern:-vht-default-pattern}
    # One 4 KiB block: the pattern, then zeros (O_DIRECT needs whole, aligned blocks).
    printf '%s' "$pattern" > /tmp/block
    dd if=/dev/zero bs=1 count=$((4096 - ${#pattern})) 2>/dev/null >> /tmp/block
    if dd if=/tmp/block of=/dev/vda bs=4096 seek=256 count=1 oflag=direct conv=notrunc 2>/dev/null; then
        say write=ok
    else
        say write=failed
    fi
    say readback=$(dd if=/dev/vda bs=4096 skip=256 count=1 iflag=direct 2>/dev/null | tr -d '\000')
    mib=${vht_read_mib:-64}
    t0=$(uptime_ms)
    if dd if=/dev/vda of=/dev/null bs=1M count=$mib iflag=direct 2>/dev/null; then
        say read_mib=$mib read_ms=$(($(uptime_ms) - t0))
    else
        say read_mib=$mib read=failed
    fi
    sync
fi
say done_ms=$(uptime_ms)
poweroff -f
INIT
chmod 755 "$stage/init"

# Reproducible archive: fixed mtimes, sorted names, no gzip timestamp.
find "$stage" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --reproducible --quiet) \
    | gzip -n -9 > "$out.tmp"
mv "$out.tmp" "$out"
echo "build-initramfs: wrote $out (kernel $kver, modules: $(tr '\n' ' ' < "$stage/etc/modules"))"
