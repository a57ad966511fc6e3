Feature: Benefit limits: visits per year and the annual maximum
  A plan may limit the visits of a category per benefit year; a line beyond the limit is
  not paid (CO-119). It may also cap what it pays a member in a year; beyond that cap the
  member pays (PR-119).

  Background:
    Given the plan "Basic" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 0%          |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Basic" allows these procedures:
      | procedure | category      | allowed per unit |
      | 97110     | physiotherapy | 80.00 USD        |
      | 29881     | surgery       | 1500.00 USD      |
    And the member "M-1001" is covered by "Basic" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario Outline: Worked example I with a limit of <limit> visits, 19 used
    Given the plan "Basic" allows <limit> "physiotherapy" visits a year
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | units | billed    |
      | 97110     | 2026-01-05      | 1     | 80.00 USD |
      | 97110     | 2026-01-06      | 1     | 80.00 USD |
      | 97110     | 2026-01-07      | 1     | 80.00 USD |
      | 97110     | 2026-01-08      | 1     | 80.00 USD |
      | 97110     | 2026-01-09      | 1     | 80.00 USD |
      | 97110     | 2026-01-10      | 1     | 80.00 USD |
      | 97110     | 2026-01-11      | 1     | 80.00 USD |
      | 97110     | 2026-01-12      | 1     | 80.00 USD |
      | 97110     | 2026-01-13      | 1     | 80.00 USD |
      | 97110     | 2026-01-14      | 1     | 80.00 USD |
      | 97110     | 2026-01-15      | 1     | 80.00 USD |
      | 97110     | 2026-01-16      | 1     | 80.00 USD |
      | 97110     | 2026-01-17      | 1     | 80.00 USD |
      | 97110     | 2026-01-18      | 1     | 80.00 USD |
      | 97110     | 2026-01-19      | 1     | 80.00 USD |
      | 97110     | 2026-01-20      | 1     | 80.00 USD |
      | 97110     | 2026-01-21      | 1     | 80.00 USD |
      | 97110     | 2026-01-22      | 1     | 80.00 USD |
      | 97110     | 2026-01-23      | 1     | 80.00 USD |
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed    |
      | 97110     | 2026-02-02      | 1     | 80.00 USD |
      | 97110     | 2026-02-09      | 1     | 80.00 USD |
    Then the claim is <decision>
    And the payer pays <payer>
    And member "M-1001" has used <used> "physiotherapy" visits in 2026

    Examples:
      | limit | decision | payer      | used |
      | 21    | approved | 160.00 USD | 21   |
      | 20    | approved | 80.00 USD  | 20   |
      | 19    | denied   | 0.00 USD   | 19   |

  Scenario: Worked example I: the twentieth visit is paid, the twenty-first is not
    Given the plan "Basic" allows 20 "physiotherapy" visits a year
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | units | billed    |
      | 97110     | 2026-01-05      | 1     | 80.00 USD |
      | 97110     | 2026-01-06      | 1     | 80.00 USD |
      | 97110     | 2026-01-07      | 1     | 80.00 USD |
      | 97110     | 2026-01-08      | 1     | 80.00 USD |
      | 97110     | 2026-01-09      | 1     | 80.00 USD |
      | 97110     | 2026-01-10      | 1     | 80.00 USD |
      | 97110     | 2026-01-11      | 1     | 80.00 USD |
      | 97110     | 2026-01-12      | 1     | 80.00 USD |
      | 97110     | 2026-01-13      | 1     | 80.00 USD |
      | 97110     | 2026-01-14      | 1     | 80.00 USD |
      | 97110     | 2026-01-15      | 1     | 80.00 USD |
      | 97110     | 2026-01-16      | 1     | 80.00 USD |
      | 97110     | 2026-01-17      | 1     | 80.00 USD |
      | 97110     | 2026-01-18      | 1     | 80.00 USD |
      | 97110     | 2026-01-19      | 1     | 80.00 USD |
      | 97110     | 2026-01-20      | 1     | 80.00 USD |
      | 97110     | 2026-01-21      | 1     | 80.00 USD |
      | 97110     | 2026-01-22      | 1     | 80.00 USD |
      | 97110     | 2026-01-23      | 1     | 80.00 USD |
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed    |
      | 97110     | 2026-02-02      | 1     | 80.00 USD |
      | 97110     | 2026-02-09      | 1     | 80.00 USD |
    Then line 1 is paid 80.00 USD
    And line 2 is not paid, reason CO-119

  Scenario Outline: The annual maximum: the plan pays up to <maximum> a year
    Given the plan "Basic" pays at most <maximum> a year
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-02-02      | 1     | 1500.00 USD |
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1500.00 USD |
    Then the claim is <decision>
    And the payer pays <payer>
    And the member owes <member>

    Examples:
      | maximum     | decision | payer       | member      |
      | 5000.00 USD | approved | 1500.00 USD | 0.00 USD    |
      | 2000.00 USD | approved | 500.00 USD  | 1000.00 USD |
      | 1500.00 USD | denied   | 0.00 USD    | 1500.00 USD |

  Scenario: Beyond the annual maximum the member pays, reason PR-119
    Given the plan "Basic" pays at most 1000.00 USD a year
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1500.00 USD |
    Then the payer pays 1000.00 USD
    And line 1 has these adjustments:
      | code   | amount     |
      | PR-119 | 500.00 USD |
