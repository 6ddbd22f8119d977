// SPDX-License-Identifier: MIT
// The one confirmation asked before a destructive action (delete, revoke).
import { ElMessageBox } from 'element-plus'

// Shows message with a warning icon; confirmText labels the confirm button. Resolves to true
// when the user confirmed, false when they cancelled or closed the box.
export async function confirmDanger(t, message, confirmText = t('common.delete')) {
  try {
    await ElMessageBox.confirm(message, t('common.confirm'), {
      type: 'warning',
      confirmButtonText: confirmText,
      cancelButtonText: t('common.cancel'),
    })
    return true
  } catch {
    return false
  }
}
