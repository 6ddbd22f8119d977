// SPDX-License-Identifier: MIT
// 中文（简体）文案，键与 en.js 一一对应。
export default {
  nav: { dashboard: '仪表盘', nodes: '节点', rules: '规则', whitelist: '白名单', settings: '设置', menu: '菜单', user: '用户' },
  live: { on: '实时', off: '离线' },
  theme: { dark: '深色主题', light: '浅色主题' },
  common: {
    actions: '操作', cancel: '取消', confirm: '请确认', copied: '已复制', copy: '复制',
    copyFailed: '此处无法使用剪贴板，请手动选中并复制', create: '创建', created: '创建时间', delete: '删除',
    done: '完成', edit: '编辑', error: '错误', field: '字段', noData: '暂无数据', off: '关闭', ok: '确定',
    on: '开启', refresh: '刷新', save: '保存',
  },
  auth: {
    title: '使用 API 密钥登录', key: 'API 密钥', keyPlaceholder: '粘贴管理员或只读密钥', keyRequired: '请输入 API 密钥',
    login: '登录', logout: '退出登录', invalid: '密钥无效', tooMany: '尝试次数过多，请稍后再试', scope: '权限',
    user: '当前用户', hint: '密钥由控制器校验，仅保存在网关会话中；本页面不存储任何密钥。',
  },
  chart: { pps: '包/秒', total: '总计', dropped: '丢弃', passed: '放行', rateLimited: '限速' },
  dash: {
    revision: '版本', livePps: '每秒包数', window: '最近 {n} 分钟', nodes: '节点', noNodes: '尚未注册节点',
    topRules: '丢包率最高的规则', totalPps: '总 PPS', droppedPps: '丢弃 PPS', passedPps: '放行 PPS',
    limitedPps: '限速 PPS', totalPackets: '总包数', droppedPackets: '丢弃包数', passedPackets: '放行包数',
    limitedPackets: '限速包数', rules: '规则', whitelistN: '{n} 条白名单', nodesOnline: '在线节点',
  },
  status: { online: '在线', syncing: '同步中', out_of_sync: '未同步', offline: '离线', unknown: '未知' },
  action: { drop: '丢弃', pass: '放行', rate_limit: '限速' },
  rule: {
    name: '名称', action: '动作', match: '匹配条件', enabled: '启用', matches: '命中数', drops: '丢弃数', pps: 'PPS',
    create: '新建规则', edit: '编辑规则', import: '导入', export: '导出', search: '搜索名称、备注或地址',
    allActions: '全部动作', allStates: '启用和停用', enabledOnly: '仅启用', disabledOnly: '仅停用',
    deleteSelected: '删除选中的 {n} 项', rateLimit: '限速（包/秒）', burst: '突发（包）', src: '源 IP 或网段',
    dst: '目的 IP 或网段', addrPlaceholder: '任意，例如 192.0.2.1 或 10.0.0.0/8', protocol: '协议', any: '任意',
    srcPort: '源端口', dstPort: '目的端口', anyPort: '任意', lenMin: '最小长度', lenMax: '最大长度',
    tcpFlags: 'TCP 标志', expiresIn: '有效期', expiresPlaceholder: '永久，例如 90s、1h30m', expiresAt: '到期时间',
    comment: '备注', created: '规则“{name}”已创建', updated: '规则已保存', deleted: '规则已删除',
    deletedN: '已删除 {n} 条规则', confirmDelete: '删除规则“{name}”？', confirmDeleteN: '删除选中的 {n} 项？',
    importResult: '导入', importSummary: '成功 {added} 条，失败 {failed} 条', importBad: '不是规则文件',
    importEmpty: '需要 JSON 规则数组或 {"rules": [...]}',
  },
  wl: {
    create: '新建条目', search: '搜索名称、备注或地址', created: '白名单条目已添加', deleted: '白名单条目已删除',
    confirmDelete: '删除白名单条目“{name}”？',
  },
  node: {
    add: '添加节点', edit: '编辑节点', id: '节点 ID', name: '名称', status: '状态', revision: '版本',
    lastSeen: '最后在线', address: 'RPC 地址', version: '程序版本', sync: '强制同步', search: '搜索节点',
    allStatuses: '全部状态', pps: 'PPS', droppedPps: '丢弃', cpu: 'CPU', memory: '内存', load: '负载（1 分钟）',
    hash: '内容哈希', attach: '挂载', detached: '未挂载', whitelisted: '白名单放行', malformed: '畸形包',
    never: '从未', notFound: '节点不存在', saved: '节点已保存', deleted: '节点已移除',
    confirmDelete: '移除节点“{name}”？其代理会继续使用已有规则过滤。', syncRequested: '已请求同步（版本 {rev}）',
    keyTitle: '节点密钥', keyOnce: '请将此密钥写入代理配置（node.key），它只显示这一次。',
  },
  keys: {
    title: 'API 密钥', create: '新建 API 密钥', id: 'ID', name: '名称', scope: '权限', lastUsed: '最近使用',
    revoke: '吊销', revoked: '密钥已吊销', confirmRevoke: '吊销密钥“{name}”？使用它的客户端将立即失效。',
    adminOnly: '只有管理员密钥可以管理 API 密钥。', createdTitle: '新的 API 密钥',
    shownOnce: '请立即复制：密钥只显示一次，之后无法再次查看。', scope_admin: '管理员', scope_read_only: '只读',
  },
  settings: {
    preferences: '偏好设置', theme: '主题', light: '浅色', dark: '深色', language: '语言', about: '关于',
    gateway: '网关', mode: '模式', upstream: '上游', auth: '认证',
  },
  time: { secondsAgo: '{n} 秒前', minutesAgo: '{n} 分钟前', hoursAgo: '{n} 小时前' },
}
