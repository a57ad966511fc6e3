Feature: Prior authorisation
  Some procedures are paid only when the payer approved them in advance for this member,
  at this provider, for the date of service. Without an authorisation on file the line is
  not paid (CO-197); quoting a number that does not authorise the service is invalid
  (CO-15). The provider writes either off.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 27447     | surgery      | 1500.00 USD      |
      | 99213     | office-visit | 120.00 USD       |
    And the plan "Gold PPO" requires prior authorisation for "27447"
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1002" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7
    And the provider "Hospital B" is paid to wallet 0x8617E340B3D01FA5F11F306F4090FD50E238070D
    And the payer authorised "27447" for member "M-1001" at "Clinic A" from 2026-03-01 to 2026-03-31 as "PA-0001"

  Scenario Outline: An authorised knee replacement is paid (<how>)
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | authorisation   |
      | 27447     | <date>          | 1500.00 USD | <authorisation> |
    Then the claim is approved
    And the payer pays 1200.00 USD

    Examples:
      | how                                 | date       | authorisation |
      | quoting its number                  | 2026-03-10 | PA-0001       |
      | found on file without a number      | 2026-03-31 |               |

  Scenario Outline: A knee replacement without a valid authorisation is not paid (<how>)
    When "<provider>" submits a claim for member "<member>" with:
      | procedure | date of service | billed      | authorisation   |
      | 27447     | <date>          | 1500.00 USD | <authorisation> |
    Then the claim is denied
    And line 1 is not paid, reason <code>
    And the provider writes off 1500.00 USD

    Examples:
      | how                                  | provider   | member | date       | authorisation | code   |
      | none on file for the member          | Clinic A   | M-1002 | 2026-03-10 |               | CO-197 |
      | none on file for the date of service | Clinic A   | M-1001 | 2026-04-01 |               | CO-197 |
      | a number that does not exist         | Clinic A   | M-1001 | 2026-03-10 | PA-9999       | CO-15  |
      | a number for another provider        | Hospital B | M-1001 | 2026-03-10 | PA-0001       | CO-15  |

  Scenario: A procedure not on the list needs no authorisation
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed     |
      | 99213     | 2026-03-10      | 120.00 USD |
    Then the claim is approved
    And the payer pays 96.00 USD

  Scenario: A denial for a missing authorisation is paid on appeal once it is on file
    Given "Clinic A" holds 0.00 USDC on chain
    And "Clinic A" submitted a claim for member "M-1002" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-10      | 1500.00 USD |
    And the payer authorised "27447" for member "M-1002" at "Clinic A" from 2026-03-01 to 2026-03-31 as "PA-0002"
    When "Clinic A" appeals the claim because "authorisation PA-0002 was granted"
    And the payer settles the approved claims
    Then the claim was appealed by "Clinic A"
    And the payer pays 1200.00 USD
    And the claim is paid
    And "Clinic A" receives 1200.00 USDC on chain
