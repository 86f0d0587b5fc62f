#!/usr/bin/env python3
"""Writes a large NUnit 3, TRX, xUnit.net, Catch2 XML or checkstyle file for benchmarks.

usage: gen-xml-other.py FORMAT CASES OUT
FORMAT: nunit | trx | xunit-net | catch2-xml | checkstyle

The shapes follow real reports of the corpus (NUnit-issue50162.xml, dotnet-trx.trx,
fixie.xml, all.catch2-xml.xml): one case in ten fails with a message and a .NET/C++ stack
trace, one in twenty is skipped, the rest pass. TRX is written in VSTest's order (all
results first, then the definitions), the worst case for the TRX parser's memory.
"""
import sys
import uuid

FAIL_MSG = "Expected: greater than 2\n  But was:  1"
TRACE = (
    "   at UnitTests.HelloWorldTests.TestWithParameters(String param) in "
    "/home/runner/work/app/app/UnitTests/HelloWorldTests.cs:line 27\n"
    "   at System.RuntimeMethodHandle.InvokeMethod(Object target, Void** arguments)\n"
)


def status(i):
    if i % 10 == 3:
        return "fail"
    if i % 20 == 7:
        return "skip"
    return "pass"


def nunit(n, w):
    w(f'<?xml version="1.0" encoding="utf-8"?>\n<test-run id="2" testcasecount="{n}" total="{n}" result="Failed">\n')
    w('<test-suite type="Assembly" name="UnitTests.dll" result="Failed">\n')
    for i in range(n):
        if i % 50 == 0:
            if i:
                w("</test-suite>\n")
            w(f'<test-suite type="TestFixture" name="Fixture{i // 50}" fullname="UnitTests.Fixture{i // 50}" result="Passed">\n')
        cls = f"UnitTests.Fixture{i // 50}"
        s = status(i)
        head = (f'  <test-case id="0-{i}" name="Test{i}(&quot;p&quot;)" fullname="{cls}.Test{i}(&quot;p&quot;)" '
                f'methodname="Test{i}" classname="{cls}" runstate="Runnable" seed="1" ')
        if s == "fail":
            w(head + 'result="Failed" duration="0.002910" asserts="1">\n'
              f"    <failure><message><![CDATA[{FAIL_MSG}]]></message>"
              f"<stack-trace><![CDATA[{TRACE}]]></stack-trace></failure>\n  </test-case>\n")
        elif s == "skip":
            w(head + 'result="Skipped" label="Ignored" duration="0.000100" asserts="0">\n'
              "    <reason><message><![CDATA[not on CI]]></message></reason>\n  </test-case>\n")
        else:
            w(head + 'result="Passed" duration="0.000179" asserts="1" />\n')
    w("</test-suite>\n</test-suite>\n</test-run>\n")


def trx(n, w):
    ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"
    w(f'<?xml version="1.0" encoding="utf-8"?>\n<TestRun id="{uuid.uuid4()}" name="bench" xmlns="{ns}">\n')
    w('  <Times creation="2024-01-01T00:00:00Z" start="2024-01-01T00:00:00Z" finish="2024-01-01T00:01:00Z" />\n  <Results>\n')
    ids = []
    for i in range(n):
        tid = uuid.UUID(int=i + 1)
        eid = uuid.UUID(int=(1 << 64) + i)
        ids.append((tid, eid))
        s = status(i)
        outcome = {"pass": "Passed", "fail": "Failed", "skip": "NotExecuted"}[s]
        w(f'    <UnitTestResult executionId="{eid}" testId="{tid}" testName="Bench.Tests.Class{i // 50}.Test{i}" '
          f'computerName="runner" duration="00:00:00.0170545" startTime="2024-01-01T00:00:00.0+00:00" '
          f'endTime="2024-01-01T00:00:00.1+00:00" testType="13CDC9D9-DDB5-4fa4-A97D-D965CCFC6D4B" '
          f'outcome="{outcome}" testListId="8C84FA94-04C1-424b-9868-57A2D4851A1D" relativeResultsDirectory="{eid}"')
        if s == "fail":
            w(f">\n      <Output>\n        <ErrorInfo>\n          <Message>{FAIL_MSG}</Message>\n"
              f"          <StackTrace>{TRACE}</StackTrace>\n        </ErrorInfo>\n      </Output>\n    </UnitTestResult>\n")
        else:
            w(" />\n")
    w("  </Results>\n  <TestDefinitions>\n")
    for i, (tid, eid) in enumerate(ids):
        w(f'    <UnitTest name="Bench.Tests.Class{i // 50}.Test{i}" storage="/home/runner/work/bench/bin/bench.tests.dll" id="{tid}">\n'
          f'      <Execution id="{eid}" />\n'
          f'      <TestMethod codeBase="/home/runner/work/bench/bin/Bench.Tests.dll" adapterTypeName="executor://xunit/VsTestRunner2/netcoreapp" '
          f'className="Bench.Tests.Class{i // 50}" name="Test{i}" />\n    </UnitTest>\n')
    w(f'  </TestDefinitions>\n  <ResultSummary outcome="Failed">\n    <Counters total="{n}" />\n  </ResultSummary>\n</TestRun>\n')


def xunit(n, w):
    w(f'<?xml version="1.0" encoding="utf-8"?>\n<assemblies>\n<assembly name="/bin/Bench.Tests.dll" total="{n}">\n<errors />\n')
    for i in range(n):
        if i % 50 == 0:
            if i:
                w("</collection>\n")
            w(f'<collection name="Test collection for Bench.Class{i // 50}" total="50">\n')
        s = status(i)
        head = f'  <test name="Bench.Class{i // 50}.Test{i}(x: 1)" type="Bench.Class{i // 50}" method="Test{i}" time="0.0010000" '
        if s == "fail":
            w(head + 'result="Fail">\n    <failure exception-type="Xunit.Sdk.EqualException">'
              f"<message><![CDATA[{FAIL_MSG}]]></message><stack-trace><![CDATA[{TRACE}]]></stack-trace></failure>\n  </test>\n")
        elif s == "skip":
            w(head + 'result="Skip"><reason><![CDATA[not on CI]]></reason></test>\n')
        else:
            w(head + 'result="Pass"><traits><trait name="Category" value="fast" /></traits></test>\n')
    w("</collection>\n</assembly>\n</assemblies>\n")


def catch2(n, w):
    w('<?xml version="1.0" encoding="UTF-8"?>\n<Catch name="bench">\n  <Group name="bench">\n')
    for i in range(n):
        s = status(i)
        w(f'    <TestCase name="case {i}" tags="[t]" filename="bench.cpp" line="{i % 1000 + 1}">\n')
        if s == "fail":
            w('      <Section name="section" filename="bench.cpp" line="2">\n'
              '        <Expression success="false" type="CHECK" filename="bench.cpp" line="3">\n'
              "          <Original>\n            add(2, 2) == 5\n          </Original>\n"
              "          <Expanded>\n            4 == 5\n          </Expanded>\n        </Expression>\n"
              '        <OverallResults successes="0" failures="1" expectedFailures="0"/>\n      </Section>\n'
              '      <OverallResult success="false"/>\n')
        elif s == "skip":
            w('      <Skip filename="bench.cpp" line="4">\n        not on CI\n      </Skip>\n'
              '      <OverallResult success="true" skips="1"/>\n')
        else:
            w('      <OverallResult success="true"/>\n')
        w("    </TestCase>\n")
    w('    <OverallResults successes="0" failures="0" expectedFailures="0"/>\n  </Group>\n</Catch>\n')


def checkstyle(n, w):
    w('<?xml version="1.0" encoding="utf-8"?>\n<checkstyle version="4.3">\n')
    for i in range(n):
        if i % 20 == 0:
            if i:
                w("</file>\n")
            w(f'<file name="/home/runner/work/app/app/src/module{i // 20}.js">\n')
        sev = "error" if i % 3 == 0 else "warning"
        w(f'<error line="{i % 500 + 1}" column="7" severity="{sev}" '
          f'message="&apos;x{i}&apos; is assigned a value but never used. (no-unused-vars)" source="eslint.rules.no-unused-vars" />\n')
    w("</file>\n</checkstyle>\n")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    fmt, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    gen = {"nunit": nunit, "trx": trx, "xunit-net": xunit, "catch2-xml": catch2, "checkstyle": checkstyle}
    if fmt not in gen:
        sys.exit(f"unknown format {fmt!r}: one of {', '.join(gen)}")
    with open(out, "w", encoding="utf-8", buffering=1 << 20) as f:
        gen[fmt](n, f.write)


if __name__ == "__main__":
    main()
