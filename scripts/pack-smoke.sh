#!/usr/bin/env bash
# Packs PortShare, PortShare.Http and PortShare.Cli (Release, into artifacts/package/release), checks each package
# carries its readme, license expression and XML docs, then installs the CLI as a dotnet tool into a temporary tool
# path from that folder alone and runs `portshare --version`. Exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "pack-smoke: FAIL: $*" >&2; exit 1; }

version="$(dotnet msbuild src/PortShare/PortShare.csproj -getProperty:Version -nologo)"
[[ -n "$version" ]] || fail "could not read the version from the build"
out="$root/artifacts/package/release"
# Stale packages of the same version would hide a broken pack: start from none of ours.
rm -f "$out"/PortShare.*nupkg "$out"/PortShare.Http.*nupkg "$out"/PortShare.Cli.*nupkg

echo "pack-smoke: dotnet pack -c Release (version $version)"
dotnet pack PortShare.slnx -c Release -nologo -v q >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; fail "dotnet pack failed"; }

for id in PortShare PortShare.Http PortShare.Cli; do
  pkg="$out/$id.$version.nupkg"
  [[ -f "$pkg" ]] || fail "$pkg was not produced"
  list="$(unzip -Z1 "$pkg")"
  nuspec="$(unzip -p "$pkg" "$id.nuspec")"
  grep -qx 'README.md' <<<"$list" || fail "$id: README.md is not in the package"
  grep -q '<readme>README.md</readme>' <<<"$nuspec" || fail "$id: the nuspec names no readme"
  grep -q '<license type="expression">MIT</license>' <<<"$nuspec" || fail "$id: no MIT license expression"
  if grep -q '<repository[^>]*commit=' <<<"$nuspec"; then fail "$id: a repository commit is baked in (SourceLink should be off)"; fi
  if [[ "$id" != PortShare.Cli ]]; then
    grep -qx "lib/net10.0/$id.xml" <<<"$list" || fail "$id: XML documentation lib/net10.0/$id.xml is missing"
  else
    grep -q '<packageType name="DotnetTool"' <<<"$nuspec" || fail "$id: not a dotnet tool package"
  fi
  echo "pack-smoke: ok $id.$version.nupkg"
done

# Install only from the freshly built folder, with an empty package cache, so neither a remote feed nor a cached
# older build of the same version can stand in for it.
cat >"$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$out" />
  </packageSources>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"
dotnet tool install PortShare.Cli --version "$version" --tool-path "$work/tools" --configfile "$work/nuget.config" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "dotnet tool install from $out failed"; }

got="$("$work/tools/portshare" --version)" || fail "portshare --version exited non-zero"
[[ "$got" == "$version" || "$got" == "$version+"* ]] || fail "portshare --version printed '$got', expected $version"
echo "pack-smoke: ok portshare --version = $got (installed from $out)"
