#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Validates an mbam-vss package on a real Windows Server that runs SQL Server with the MBAM
  databases: installs it, checks what VSS lists, backs up with DiskShadow (`writer verify` of the
  MBAM writer and the SQL Server writer), checks components and dependencies, uninstalls, and
  prints one PASS/FAIL table. Exit code 0 only when every check passed.
.EXAMPLE
  .\validate.ps1 -Package .\mbam-vss-0.1.0.tgz -Topology C:\mbam\topology.json
  .\validate.ps1 -Package .\mbam-vss-0.1.0.tgz -Topology C:\mbam\topology-hosted.json -Hosted
#>
param(
  [Parameter(Mandatory)] [string] $Package,
  [Parameter(Mandatory)] [string] $Topology,
  [string] $Server = $env:COMPUTERNAME,
  # The volume that holds the MBAM database files (DiskShadow snapshots it).
  [string] $Volume = 'C:',
  # The topology sets "hostedWriter": true: check the MbamVssWriter service instead of the express registration.
  [switch] $Hosted
)
$ErrorActionPreference = 'Stop'
$MbamWriterId = 'aaf1bbf5-9b9f-4d72-b82d-5ccddc74336d'
$SqlWriterId = 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a'
$ServiceName = 'MbamVssWriter'
$work = Join-Path $env:TEMP "mbam-vss-validate-$PID"
New-Item -ItemType Directory -Force -Path $work | Out-Null
$cli = Join-Path $work 'mbam-vss.cmd'
$results = [System.Collections.Generic.List[object]]::new()

function Check([string] $Name, [scriptblock] $Body) {
  try {
    $detail = & $Body
    $results.Add([pscustomobject]@{ Check = $Name; Result = 'PASS'; Detail = ($detail | Out-String).Trim() })
  } catch {
    $results.Add([pscustomobject]@{ Check = $Name; Result = 'FAIL'; Detail = $_.Exception.Message })
  }
}
function Invoke-Cli {
  $out = & $cli @args 2>&1 | Out-String
  if ($LASTEXITCODE -ne 0) { throw "mbam-vss $($args -join ' ') exited $LASTEXITCODE`n$out" }
  $out
}
# The `vssadmin list writers` block of one writer id, or $null.
function Get-WriterBlock([string] $Id) {
  $text = vssadmin list writers | Out-String
  ($text -split '(?=Writer name:)') | Where-Object { $_ -match [regex]::Escape("{$Id}") } | Select-Object -First 1
}

Check 'package installs' {
  npm install --global --prefix $work $Package 2>&1 | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "npm install exited $LASTEXITCODE" }
  Invoke-Cli --version
}
Check 'mbam-vss install' {
  $r = Invoke-Cli install --topology $Topology --server $Server --json | ConvertFrom-Json
  if ($r.outcome -notin 'committed', 'no-change') { throw "install outcome: $($r.outcome)" }
  $r.outcome
}
if ($Hosted) {
  Check 'service runs, depends on EventSystem and VSS' {
    $s = Get-Service -Name $ServiceName
    if ($s.Status -ne 'Running') { throw "$ServiceName is $($s.Status)" }
    $deps = $s.ServicesDependedOn.Name
    foreach ($d in 'EventSystem', 'VSS') { if ($deps -notcontains $d) { throw "$ServiceName does not depend on $d (has: $deps)" } }
    "Running; depends on $($deps -join ', ')"
  }
}
Check 'vssadmin lists the MBAM writer, Stable' {
  $b = Get-WriterBlock $MbamWriterId
  if (-not $b) { throw 'vssadmin list writers does not list the MBAM writer' }
  if ($b -notmatch 'State: \[1\] Stable') { throw "not stable:`n$b" }
  if ($b -notmatch 'Last error: No error') { throw "last error set:`n$b" }
  'Stable, no error'
}
Check 'SQL Server writer is Stable' {
  $b = Get-WriterBlock $SqlWriterId
  if (-not $b -or $b -notmatch 'State: \[1\] Stable') { throw "SqlServerWriter missing or not stable:`n$b" }
  'Stable'
}
Check 'components and SQL dependencies' {
  $md = Invoke-Cli metadata $MbamWriterId --json | ConvertFrom-Json
  if (-not $md.components -or $md.components.Count -lt 1) { throw 'the MBAM writer lists no component' }
  foreach ($c in $md.components) {
    $onSql = @($c.dependencies | Where-Object { $_.writerId -eq $SqlWriterId -and $_.componentName -eq $c.componentName })
    if ($onSql.Count -ne 1) { throw "component '$($c.componentName)' has no dependency on the SQL Server writer's component of that name" }
  }
  ($md.components | ForEach-Object { "$($_.logicalPath)\$($_.componentName) -> $(@($_.dependencies | ForEach-Object { "$($_.logicalPath)\$($_.componentName)" }) -join ', ')" }) -join '; '
}
Check 'DiskShadow backup with writer verify' {
  $script = Join-Path $work 'backup.dsh'
  @(
    'set context volatile',
    'set verbose on',
    "set metadata $(Join-Path $work 'backup.cab')",
    "writer verify {$MbamWriterId}",
    "writer verify {$SqlWriterId}",
    'begin backup',
    "add volume $Volume alias mbamvol",
    'create',
    'end backup'
  ) | Set-Content -Encoding ASCII -Path $script
  $out = diskshadow /s $script 2>&1 | Out-String
  $out | Set-Content -Path (Join-Path $work 'diskshadow.log')
  if ($LASTEXITCODE -ne 0) { throw "diskshadow exited $LASTEXITCODE (log: $work\diskshadow.log)" }
  if ($out -match 'verification failed|is not included') { throw "writer verification failed (log: $work\diskshadow.log)" }
  'backup completed, both writers included'
}
Check 'writers Stable after the backup' {
  foreach ($id in $MbamWriterId, $SqlWriterId) {
    $b = Get-WriterBlock $id
    if ($b -notmatch 'State: \[1\] Stable' -or $b -notmatch 'Last error: No error') { throw "after the backup:`n$b" }
  }
  'Stable, no error'
}
if ($Hosted) {
  Check 'hosted writer recorded the backup' {
    # health's last-backup check names who recorded the newest successful backup.
    $h = Invoke-Cli health --topology $Topology --server $Server --json
    if ($h -notmatch 'by hosted-writer') { throw "health shows no backup recorded by the hosted writer:`n$h" }
    'recorded'
  }
}
Check 'mbam-vss uninstall' {
  Invoke-Cli uninstall --server $Server | Out-Null
  if (Get-WriterBlock $MbamWriterId) { throw 'the MBAM writer is still listed' }
  if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) { throw "$ServiceName still exists" }
  'writer and service gone'
}

$results | Format-Table -AutoSize -Wrap
$failed = @($results | Where-Object Result -eq 'FAIL').Count
Write-Output ("{0} checks, {1} failed" -f $results.Count, $failed)
exit ([int]($failed -gt 0))
